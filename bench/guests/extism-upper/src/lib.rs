//! Returns its input in upper case: the same work as the Databook guest.

use extism_pdk::*;

#[plugin_fn]
pub fn upper(input: String) -> FnResult<String> {
    Ok(input.to_uppercase())
}
