/*
 * What an application does at start-up with the koolicense SDK: open the client with the
 * public keys embedded at build time, activate once, then call kl_is_genuine on every start
 * and tell the user what each status means.
 *
 *   license_check SERVER_URL DATA_DIR KEYS_FILE [CODE [FINGERPRINT]]
 *
 * KEYS_FILE holds the server's GET /v1/keys document (a real application compiles it in).
 * With a CODE (not empty) the program activates first; FINGERPRINT replaces this machine's.
 * It prints one line per call and exits with the last status.
 */
#include <stdio.h>
#include <stdlib.h>

#include "koolicense.h"

/* What to show the user for each status. */
static const char *user_message(int status) {
    switch (status) {
    case KL_OK: return "Licensed.";
    case KL_GRACE: return "Licensed; the license server could not be reached, please check the network.";
    case KL_EXPIRED: return "Your license has expired: renew it in KooGallery.";
    case KL_FROZEN: return "Your license is frozen: settle the order in KooGallery.";
    case KL_RELEASED: return "Your license was released: buy a new one in KooGallery.";
    case KL_REVOKED: return "Your license was revoked: contact support.";
    case KL_NOT_ACTIVATED: return "Not activated: enter your authorization code.";
    case KL_FINGERPRINT_MISMATCH: return "This license belongs to another machine: activate here.";
    case KL_GRACE_OVER: return "The license server has not been reached for too long: connect to the network.";
    case KL_CLOCK_TAMPERED: return "The system clock is wrong: set it right.";
    case KL_SEAT_LIMIT_REACHED: return "All machines of this code are in use: free one, or buy more.";
    case KL_CODE_NOT_FOUND: return "Unknown authorization code: check what you typed.";
    case KL_CODE_NOT_CLAIMED: return "Claim the code in KooGallery first.";
    case KL_RATE_LIMITED: return "Too many attempts: try again later.";
    case KL_NETWORK: return "The license server could not be reached: try again.";
    default: return "License check failed: contact support.";
    }
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    size_t cap = 4096, len = 0;
    char *text = malloc(cap + 1);
    size_t n;
    while (text != NULL && (n = fread(text + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            char *bigger = realloc(text, 2 * cap + 1);
            if (bigger == NULL) { free(text); text = NULL; break; }
            text = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (text != NULL) text[len] = '\0';
    return text;
}

static int report(kl_client *c, const char *call, int status) {
    printf("%s %s: %s", call, kl_status_name(status), user_message(status));
    if (status != KL_OK) printf(" (%s)", kl_last_error(c));
    printf("\n");
    return status;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s SERVER_URL DATA_DIR KEYS_FILE [CODE [FINGERPRINT]]\n", argv[0]);
        return KL_INVALID_ARGUMENT;
    }
    char *keys = read_file(argv[3]);
    if (keys == NULL) {
        fprintf(stderr, "cannot read %s\n", argv[3]);
        return KL_INVALID_ARGUMENT;
    }
    kl_client *c = kl_open(argv[1], argv[2], keys);
    free(keys);
    if (c == NULL) {
        fprintf(stderr, "kl_open: %s\n", kl_open_error());
        return KL_INVALID_ARGUMENT;
    }
    kl_set_option(c, "timeout_ms", "3000");
    if (argc > 5 && report(c, "kl_set_fingerprint", kl_set_fingerprint(c, argv[5])) != KL_OK) {
        kl_close(c);
        return KL_INVALID_ARGUMENT;
    }
    if (argc > 4 && argv[4][0] != '\0') {
        int activated = report(c, "kl_activate", kl_activate(c, argv[4]));
        if (activated != KL_OK) {
            kl_close(c);
            return activated;
        }
    }
    int status = report(c, "kl_is_genuine", kl_is_genuine(c));
    char *payload = kl_license_json(c);
    if (payload != NULL) {
        printf("license %s\n", payload);
        kl_string_free(payload);
    }
    kl_close(c);
    return status;
}
