//! API errors in docker's shape: a status code and `{"message": ...}`.

use hyper::StatusCode;

/// An error answered to an API client.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The HTTP status (400 bad input, 404 missing, 409 conflict, 500 ours).
    pub status: StatusCode,
    /// What docker prints after "Error response from daemon:".
    pub message: String,
}

impl ApiError {
    /// 400: the request is wrong.
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: the object does not exist.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 409: the object is in the wrong state, or the name is taken.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }

    /// 500: the daemon failed.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// An error with any status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl From<dm_image::ImageError> for ApiError {
    fn from(e: dm_image::ImageError) -> ApiError {
        use dm_image::ImageError as E;
        match &e {
            E::NotFound(name) => ApiError::not_found(format!("No such image: {name}")),
            E::Reference(_) | E::Ambiguous(_) => ApiError::bad(e.to_string()),
            _ => ApiError::internal(e.to_string()),
        }
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;
