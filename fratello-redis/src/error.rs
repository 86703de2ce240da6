//! [`RedisError`]: why the backend could not start.

/// Why [`RedisBackend::connect`](crate::RedisBackend::connect) failed: the message names the
/// URL and what was wrong. Converts into [`fratello::StartupError`], so that `?` in `main`
/// prints it and exits.
#[derive(Debug, Clone)]
pub struct RedisError {
    message: String,
}

impl RedisError {
    pub(crate) fn url(url: &str, why: String) -> Self {
        RedisError { message: format!("the Redis URL `{url}` is not usable: {why}") }
    }

    pub(crate) fn config(why: String) -> Self {
        RedisError { message: format!("the Redis backend's configuration is not usable: {why}") }
    }

    pub(crate) fn unreachable(url: &str, why: String) -> Self {
        RedisError {
            message: format!(
                "could not reach Redis at `{url}`: {why} (start Redis there, or set \
                 RedisConfig::start_without_redis(true) to start alone and join it later)"
            ),
        }
    }
}

impl std::fmt::Display for RedisError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RedisError {}

impl From<RedisError> for fratello::StartupError {
    fn from(e: RedisError) -> Self {
        std::io::Error::other(e).into()
    }
}
