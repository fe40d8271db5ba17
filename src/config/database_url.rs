//! Postgres URLs as users write them: SQLAlchemy's `postgresql+psycopg://` (the
//! contract's form) or plain `postgres://`. sqlx only knows the plain form.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseUrlError {
    pub value: String,
}

impl fmt::Display for DatabaseUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a Postgres URL: expected postgres://USER:PASSWORD@HOST:PORT/DB \
             (postgresql+psycopg://… is accepted too)",
            redact(&self.value)
        )
    }
}

/// The URL sqlx understands: the `+driver` suffix of the scheme dropped.
pub fn normalize(url: &str) -> Result<String, DatabaseUrlError> {
    let error = || DatabaseUrlError {
        value: url.to_string(),
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(error)?;
    let base = scheme.split('+').next().unwrap_or(scheme);
    if base != "postgres" && base != "postgresql" {
        return Err(error());
    }
    if rest.is_empty() {
        return Err(error());
    }
    Ok(format!("postgres://{rest}"))
}

/// The password of a URL (if any), so callers can scrub it from other text too.
pub fn password(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?']).next()?;
    let userinfo = authority.rsplit_once('@')?.0;
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then(|| password.to_string())
}

/// The URL with its password replaced by `***`; anything else unchanged.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlalchemy_driver_suffix_is_dropped() {
        assert_eq!(
            normalize("postgresql+psycopg://wordloom:wordloom@localhost:5435/wordloom_test")
                .unwrap(),
            "postgres://wordloom:wordloom@localhost:5435/wordloom_test"
        );
        assert_eq!(normalize("postgres://a@b/c").unwrap(), "postgres://a@b/c");
    }

    #[test]
    fn other_schemes_are_refused_without_leaking_the_password() {
        let error = normalize("mysql://u:hunter2@h/db").unwrap_err().to_string();
        assert!(error.contains("mysql://u:***@h/db"), "{error}");
        assert!(!error.contains("hunter2"));
        assert!(normalize("localhost:5435").is_err());
    }

    #[test]
    fn password_is_redacted_and_extracted() {
        let url = "postgresql+psycopg://wordloom:s3cr%40t@localhost:5435/db?sslmode=disable";
        assert_eq!(
            redact(url),
            "postgresql+psycopg://wordloom:***@localhost:5435/db?sslmode=disable"
        );
        assert_eq!(password(url).as_deref(), Some("s3cr%40t"));
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(password("postgres://u@h/db"), None);
    }
}
