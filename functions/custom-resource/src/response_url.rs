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
        if !is_s3_host(&host) || uri.port().is_some() {
            return refuse(&format!("host `{host}` is not Amazon S3"));
        }
        let query = uri.query().unwrap_or_default();
        if !(query.contains("X-Amz-Signature=") || query.contains("Signature=")) {
            return refuse("is not pre-signed");
        }
        Ok(())
    }
}

/// A region name: `us-east-1`, `us-gov-west-1`, `cn-north-1`, `us-iso-east-1`.
fn is_region(label: &str) -> bool {
    let parts: Vec<&str> = label.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().all(|p| !p.is_empty())
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
}

/// The S3 endpoint part of a host (after the bucket, before `amazonaws.com`), in the shapes S3
/// documents: `s3`, `s3.REGION`, `s3-REGION` (legacy), `s3-external-1`, `s3.dualstack.REGION`,
/// `s3-fips.REGION`, `s3-fips.dualstack.REGION`.
fn is_s3_endpoint(labels: &[&str]) -> bool {
    match labels {
        ["s3"] | ["s3-external-1"] => true,
        [legacy] => legacy.strip_prefix("s3-").is_some_and(is_region),
        ["s3" | "s3-fips", region] => is_region(region),
        ["s3" | "s3-fips", "dualstack", region] => is_region(region),
        _ => false,
    }
}

/// Exactly S3's hosts, path style (`s3.REGION.amazonaws.com`) or virtual-hosted
/// (`BUCKET.s3.REGION.amazonaws.com`), in the commercial and China partitions.
fn is_s3_host(host: &str) -> bool {
    let Some(rest) = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))
    else {
        return false;
    };
    let labels: Vec<&str> = rest.split('.').collect();
    let bucket_label =
        |l: &&str| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    (1..=3).filter(|n| *n <= labels.len()).any(|n| {
        let (bucket, endpoint) = labels.split_at(labels.len() - n);
        is_s3_endpoint(endpoint) && bucket.iter().all(bucket_label)
    })
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
            "https://b.s3-us-west-2.amazonaws.com/k?Signature=x",
            "https://s3-external-1.amazonaws.com/b/k?Signature=x",
            "https://b.s3.dualstack.ap-northeast-1.amazonaws.com/k?X-Amz-Signature=x",
            "https://s3-fips.us-gov-west-1.amazonaws.com/b/k?X-Amz-Signature=x",
            "https://b.s3-fips.dualstack.us-east-2.amazonaws.com/k?X-Amz-Signature=x",
            "https://b.s3.cn-north-1.amazonaws.com.cn/k?X-Amz-Signature=x",
            "https://my.dotted.bucket.s3.eu-west-1.amazonaws.com/k?X-Amz-Signature=x",
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
            "https://s3-1234.us-east-1.elb.amazonaws.com/k?Signature=x",
            "https://s3.x.us-east-1.rds.amazonaws.com/k?Signature=x",
            "https://s3.us-east-1.execute-api.amazonaws.com/k?Signature=x",
            "https://s3-bad.amazonaws.com/k?Signature=x",
            "https://b.s3.dualstack.amazonaws.com/k?Signature=x",
            "https://s3.amazonaws.com.evil.example/k?Signature=x",
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
