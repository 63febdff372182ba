//! (module session)
