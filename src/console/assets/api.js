// The admin API client (/admin/v1 of this origin) and the signed-in session.
//
// The admin token lives only in sessionStorage and in the Authorization header; it never goes
// into a URL, a cookie, the DOM or the console.

const TOKEN_KEY = "koolicense.token";
const API_BASE = "/admin/v1";

let session = null; // { token, name, role } while signed in
let onEnd = () => {}; // what ending the session does to the page (set by app.js)

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Thrown after a 401 has signed the user out: callers drop it silently.
export class SessionEnded extends Error {}

export function queryString(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const encoded = search.toString();
  return encoded ? `?${encoded}` : "";
}

function failure(status, data) {
  const code = typeof data?.code === "string" ? data.code : `HTTP ${status}`;
  if (status === 403) return new ApiError(status, code, "Your role cannot do this.");
  if (typeof data?.message === "string" && data.message) return new ApiError(status, code, data.message);
  if (status >= 500) return new ApiError(status, code, `The server could not answer (HTTP ${status}). Try again shortly.`);
  return new ApiError(status, code, `The request failed (HTTP ${status}).`);
}

async function readJson(response) {
  if (response.status === 204) return null;
  try {
    return await response.json();
  } catch {
    return null;
  }
}

// `probe`: a sign-in check, whose 401 means "wrong token" rather than "session over".
export async function api(method, path, { query, body, token, probe = false } = {}) {
  const headers = {
    Accept: "application/json",
    Authorization: `Bearer ${token || session?.token || ""}`,
  };
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(API_BASE + path + queryString(query), init);
  } catch {
    throw new ApiError(0, "NETWORK", "Cannot reach the server. Check your connection and try again.");
  }
  const data = await readJson(response);
  if (response.ok) {
    if (data === null && response.status !== 204) throw failure(response.status, null);
    return data;
  }
  if (response.status === 401 && !probe) {
    if (session) endSession("Your session ended: the server no longer accepts your token. Sign in again.");
    throw new SessionEnded();
  }
  throw failure(response.status, data);
}

export const describeError = (error) => (error.code ? `${error.message} (${error.code})` : error.message);

// ---- Session ---------------------------------------------------------------------------------

export const signedIn = () => session !== null;
export const isAdmin = () => session?.role === "admin";
export const sessionName = () => session?.name ?? null;

// The token stays in this tab's session storage, so a reload keeps the session.
export const storedToken = () => sessionStorage.getItem(TOKEN_KEY);
export const forgetStoredToken = () => sessionStorage.clear();

export function beginSession(token, me) {
  session = { token, name: me.name, role: me.role };
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function onSessionEnd(handler) {
  onEnd = handler;
}

export function endSession(message) {
  session = null;
  forgetStoredToken();
  onEnd(message);
}
