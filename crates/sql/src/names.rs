//! Names written into SQL, and URLs written into messages.

/// Whether `name` can be written into SQL as it is: `table` or `schema.table`, each part
/// letters, digits and `_`, not starting with a digit, at most 63 bytes (PostgreSQL's limit;
/// MariaDB allows 64).
pub fn is_valid_table_name(name: &str) -> bool {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 63
            && !p.starts_with(|c: char| c.is_ascii_digit())
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let mut parts = name.split('.');
    parts.clone().count() <= 2 && parts.all(part_ok)
}

/// `url` with the password of its user info (`scheme://user:password@host`) replaced by
/// `***`; anything without one is returned as it is.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let Some(colon) = rest[..at].find(':') else {
        return url.to_owned(); // a user without a password
    };
    format!(
        "{}{}:***{}",
        &url[..scheme_end],
        &rest[..colon],
        &rest[at..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_hidden_and_the_rest_kept() {
        let cases = [
            (
                "redis://:s3cret@127.0.0.1:6379/0",
                "redis://:***@127.0.0.1:6379/0",
            ),
            (
                "postgres://app:p@ss:w@db:5432/test",
                "postgres://app:***@db:5432/test",
            ),
            (
                "mysql://root@127.0.0.1:3306/test",
                "mysql://root@127.0.0.1:3306/test",
            ),
            ("postgres://db/test?user=a@b", "postgres://db/test?user=a@b"),
            ("not a url", "not a url"),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn only_plain_identifiers_are_table_names() {
        for ok in ["idempotency", "app.idempotency_keys", "_t1"] {
            assert!(is_valid_table_name(ok), "{ok}");
        }
        for bad in ["", "1t", "t;drop table x", "a.b.c", "t-1", "\"t\"", "a."] {
            assert!(!is_valid_table_name(bad), "{bad}");
        }
    }
}
