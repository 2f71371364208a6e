use crate::bundle::BundleError;

/// Errors from the core's public API. Every variant names what was wrong so
/// an adapter can pass the message straight to a user.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("unknown user `{0}`: the bundle has no such user (fold in a history instead)")]
    UnknownUser(String),
    #[error("unknown item `{0}`: the bundle's catalogue has no such item")]
    UnknownItem(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
}
