//! (module hash)
