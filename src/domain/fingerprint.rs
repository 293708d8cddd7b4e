//! placeholder
pub fn this_machine() -> String { String::new() }
