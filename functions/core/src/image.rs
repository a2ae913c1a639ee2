//! Image references (`REGISTRY/REPOSITORY[:TAG][@ALGORITHM:HEX]`), read by the ASCII grammar of
//! the OCI distribution reference (distribution/reference, `reference.go`): a hand-written
//! parser, because the regex crates compile a Unicode automaton of about 15 MB on first use,
//! more than a function needs for everything else.

use std::fmt;

/// The registry of a reference that names none (`web:1`).
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// The longest name (registry and repository) and tag the grammar allows.
const NAME_MAX: usize = 255;
const TAG_MAX: usize = 128;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl ImageRef {
    /// Reads `text`, or says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("it is empty".into());
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                check_digest(digest)?;
                (rest, Some(digest.to_string()))
            }
            None => (text, None),
        };
        // A tag follows the last ':' after the last '/' (a ':' before it is a registry port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let (name, tag) = rest.split_at(last_slash + i);
                let tag = &tag[1..];
                check_tag(tag)?;
                (name, Some(tag.to_string()))
            }
            None => (rest, None),
        };
        if name.len() > NAME_MAX {
            return Err(format!("the name is longer than {NAME_MAX} characters"));
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if is_registry(first) => {
                check_registry(first)?;
                (first.to_string(), rest)
            }
            _ => (DEFAULT_REGISTRY.to_string(), name),
        };
        check_repository(repository)?;
        let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_string()
        };
        Ok(ImageRef {
            registry,
            repository,
            tag,
            digest,
        })
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// The first path component names a registry when it has a '.' or a ':' or is `localhost`.
fn is_registry(component: &str) -> bool {
    component.contains(['.', ':']) || component == "localhost"
}

/// `host[:port]`, the host made of dot-separated labels of letters, digits and inner hyphens.
fn check_registry(registry: &str) -> Result<(), String> {
    let (host, port) = match registry.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (registry, None),
    };
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if !host.split('.').all(label_ok) {
        return Err(format!(
            "`{registry}` is not a registry host (letters, digits, inner hyphens, dots)"
        ));
    }
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("`{registry}` has a port that is not a number"));
        }
    }
    Ok(())
}

/// Slash-separated components of lowercase letters and digits, joined inside by `.`, `_`, `__`
/// or hyphens.
fn check_repository(repository: &str) -> Result<(), String> {
    for component in repository.split('/') {
        if !component_ok(component) {
            return Err(format!(
                "`{component}` is not a repository path component (lowercase letters and digits, joined by '.', '_', '__' or '-')"
            ));
        }
    }
    Ok(())
}

fn component_ok(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    // Between two runs of letters and digits: one '.', one or two '_', or any hyphens.
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// A word character, then up to 127 word characters, '.' or '-'.
fn check_tag(tag: &str) -> Result<(), String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= TAG_MAX
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{tag}` is not a tag (up to {TAG_MAX} letters, digits, '_', '.', '-', not starting with '.' or '-')"
        ))
    }
}

/// `algorithm:hex`: the algorithm letters and digits (joined by '+', '.', '-' or '_'), the hex
/// at least 32 digits; sha256 exactly 64 lowercase ones.
fn check_digest(digest: &str) -> Result<(), String> {
    let bad = || format!("`{digest}` is not a digest; expected sha256:<64 hex digits>");
    let (algorithm, hex) = digest.split_once(':').ok_or_else(bad)?;
    let algorithm_ok = algorithm.split(['+', '.', '-', '_']).all(|c| {
        c.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && c.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    let hex_ok = hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    let sha256_ok = algorithm != "sha256"
        || (hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    if algorithm_ok && hex_ok && sha256_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f";

    #[test]
    fn ecr_references_with_tag_digest_or_both() {
        let r = ImageRef::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:latest").unwrap();
        assert_eq!(
            (r.registry(), r.repository(), r.tag(), r.digest()),
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                "web",
                Some("latest"),
                None
            )
        );
        let pinned = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/web@{DIGEST}");
        let r = ImageRef::parse(&pinned).unwrap();
        assert_eq!(
            (r.repository(), r.tag(), r.digest()),
            ("team/web", None, Some(DIGEST))
        );
        assert_eq!(r.to_string(), pinned);
        let both =
            ImageRef::parse(&format!("localhost:5000/a.b__c-d/e:v1.2-rc_3@{DIGEST}")).unwrap();
        assert_eq!(
            (both.registry(), both.repository(), both.tag()),
            ("localhost:5000", "a.b__c-d/e", Some("v1.2-rc_3"))
        );
    }

    #[test]
    fn a_name_without_registry_is_docker_hub() {
        let r = ImageRef::parse("nginx").unwrap();
        assert_eq!(
            (r.registry(), r.repository(), r.tag()),
            ("docker.io", "library/nginx", None)
        );
        let r = ImageRef::parse("grafana/grafana:10").unwrap();
        assert_eq!(
            (r.registry(), r.repository()),
            ("docker.io", "grafana/grafana")
        );
    }

    #[test]
    fn what_the_grammar_refuses_is_named() {
        for (bad, says) in [
            ("", "empty"),
            ("Web:1", "repository path component"),
            ("registry.example.com/web:", "not a tag"),
            ("registry.example.com/web:.hidden", "not a tag"),
            ("registry.example.com/we..b", "repository path component"),
            ("registry.example.com/web_", "repository path component"),
            ("-bad.example.com/web", "registry host"),
            ("registry.example.com:80x/web", "port"),
            ("registry.example.com/web@sha256:abc", "not a digest"),
            ("registry.example.com/web@sha256:7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F", "not a digest"),
            ("web:1 ", "not a tag"),
            ("wéb", "repository path component"),
        ] {
            let err = ImageRef::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
        let long_tag = format!("example.com/web:{}", "a".repeat(129));
        assert!(ImageRef::parse(&long_tag).is_err());
        let long_name = format!("example.com/{}", "a".repeat(300));
        assert!(ImageRef::parse(&long_name)
            .unwrap_err()
            .contains("longer than 255"));
    }
}
