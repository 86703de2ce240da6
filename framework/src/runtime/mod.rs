//! The runtime's shared state, in one place: the app as it serves (`Shared`), each connection
//! (`Conn`) and the registry of open sessions. Everything above reaches the app through these;
//! nothing here knows a protocol or a Context.

pub(crate) mod conn;
pub(crate) mod sessions;
pub(crate) mod shared;
