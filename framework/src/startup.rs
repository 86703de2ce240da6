//! [`StartupError`]: why an app did not start.

use std::fmt;
use std::io;

/// Why an app cannot start: its routes, middleware and settings do not fit together (two
/// routes for one path and method, a route whose declared state is missing, no routes at
/// all, ...), or its address cannot be listened on.
///
/// `Display` and `Debug` both print the message alone, with the `file:line` of the
/// declarations it names, so that a `main` returning it prints a readable error:
///
/// ```text
/// Error: route `GET /polls/{id}` (src/main.rs:12) declares `state(Polls)`, but the app has
/// no `Polls`: add one with `App::state(..)`
/// ```
pub struct StartupError {
    message: String,
    source: Option<io::Error>,
}

impl StartupError {
    /// An error in the app's configuration.
    pub(crate) fn config(message: impl Into<String>) -> StartupError {
        StartupError { message: message.into(), source: None }
    }

    /// The address could not be listened on.
    pub(crate) fn listen(e: io::Error) -> StartupError {
        StartupError { message: format!("could not listen on the address: {e}"), source: Some(e) }
    }

    /// What was wrong, as printed.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether it is an I/O failure (binding the address) rather than a configuration error.
    pub fn is_io(&self) -> bool {
        self.source.is_some()
    }
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StartupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

impl From<io::Error> for StartupError {
    fn from(e: io::Error) -> StartupError {
        StartupError { message: e.to_string(), source: Some(e) }
    }
}

impl From<StartupError> for io::Error {
    fn from(e: StartupError) -> io::Error {
        match e.source {
            Some(source) => source,
            None => io::Error::new(io::ErrorKind::InvalidInput, e.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::startup::*;

    #[test]
    fn prints_the_message_alone() {
        let e = StartupError::config("route `GET /x` (src/main.rs:3) clashes");
        assert_eq!(format!("{e}"), "route `GET /x` (src/main.rs:3) clashes");
        assert_eq!(format!("{e:?}"), "route `GET /x` (src/main.rs:3) clashes");
        let io: io::Error = e.into();
        assert_eq!(io.kind(), io::ErrorKind::InvalidInput);
        let e = StartupError::from(io::Error::new(io::ErrorKind::AddrInUse, "address in use"));
        assert!(e.is_io() && format!("{e:?}") == "address in use");
    }
}
