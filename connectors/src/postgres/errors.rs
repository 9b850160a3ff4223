//! What a PostgreSQL error means to the store: a connection lost
//! (retried until PostgreSQL is back), data refused (isolated row by row,
//! see `quarantine`), and how to say which.

/// A postgres error with its cause (`Display` alone says only "db error").
pub(super) fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({}): {}", db.severity(), db.code().code(), db.message()),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            text
        }
    }
}

/// A dropped or refused connection, or a server shutting down: retried.
pub(super) fn is_connection_error(e: &postgres::Error) -> bool {
    e.is_closed()
        || e.code().is_none_or(|code| {
            let c = code.code();
            c.starts_with("08") || c == "57P01" || c == "57P02" || c == "57P03"
        })
}

/// Whether PostgreSQL refused the data itself: a data exception (22), an
/// integrity constraint (23) or a program limit such as an index row too
/// big (54). Those are isolated row by row; anything else is not.
pub(super) fn is_data_error(e: &postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| matches!(&c.code()[..2], "22" | "23" | "54"))
}
