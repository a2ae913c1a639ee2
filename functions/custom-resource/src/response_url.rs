//! Where the provisioner may send a CloudFormation answer: only an https pre-signed S3 URL, as
//! CloudFormation gives. Anything else (an internal address, plain http) is refused, so a forged
//! event cannot make the function send requests elsewhere.

use provisioner_core::ProvisionError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseUrlPolicy {
    /// An extra allowed prefix, for a local stand-in of S3 in tests; never set in Lambda.
    also_allowed: Option<String>,
}

impl ResponseUrlPolicy {
    /// What the deployed functions use.
    pub fn s3_only() -> Self {
        Self::default()
    }

    /// Also allows URLs under `prefix` (e.g. `http://127.0.0.1:PORT/`), for local runs.
    pub fn also_allowing(prefix: impl Into<String>) -> Self {
        Self {
            also_allowed: Some(prefix.into()),
        }
    }

    pub fn check(&self, url: &str) -> Result<(), ProvisionError> {
        if self
            .also_allowed
            .as_deref()
            .is_some_and(|prefix| url.starts_with(prefix))
        {
            return Ok(());
        }
        let refuse = |why: &str| {
            Err(ProvisionError::request(
                "ResponseURL",
                format!("{why}; allowed: an https pre-signed Amazon S3 URL"),
            ))
        };
        let Ok(uri) = url.parse::<http::Uri>() else {
            return refuse("is not a URL");
        };
        if uri.scheme_str() != Some("https") {
            return refuse("is not https");
        }
        let host = uri.host().unwrap_or_default().to_ascii_lowercase();
        let s3_host = (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"))
            && host
                .split('.')
                .any(|label| label == "s3" || label.starts_with("s3-"));
        if !s3_host || uri.port().is_some() {
            return refuse(&format!("host `{host}` is not Amazon S3"));
        }
        let query = uri.query().unwrap_or_default();
        if !(query.contains("X-Amz-Signature=") || query.contains("Signature=")) {
            return refuse("is not pre-signed");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::ResponseUrlPolicy;

    #[test]
    fn only_presigned_https_s3_urls_pass() {
        let policy = ResponseUrlPolicy::s3_only();
        for good in [
            "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3Aaws/abc?AWSAccessKeyId=A&Expires=1&Signature=x",
            "https://cloudformation-custom-resource-response-euwest1.s3.eu-west-1.amazonaws.com/k?X-Amz-Algorithm=A&X-Amz-Signature=x",
            "https://s3.amazonaws.com/bucket/key?X-Amz-Signature=x",
        ] {
            assert!(policy.check(good).is_ok(), "{good}");
        }
        for bad in [
            "http://bucket.s3.amazonaws.com/key?Signature=x",
            "https://169.254.169.254/latest/meta-data?Signature=x",
            "https://example.com/s3.amazonaws.com?Signature=x",
            "https://bucket.s3.amazonaws.com.evil.example/key?Signature=x",
            "https://bucket.s3.amazonaws.com/key",
            "https://sqs.us-east-1.amazonaws.com/key?Signature=x",
            "https://bucket.s3.amazonaws.com:8443/key?Signature=x",
            "not a url",
        ] {
            let err = policy.check(bad).unwrap_err();
            assert!(err.to_string().starts_with("ResponseURL:"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_local_prefix_can_be_allowed_for_tests() {
        let policy = ResponseUrlPolicy::also_allowing("http://127.0.0.1:9999/");
        assert!(policy.check("http://127.0.0.1:9999/answer").is_ok());
        assert!(policy.check("http://127.0.0.1:9998/answer").is_err());
    }
}
