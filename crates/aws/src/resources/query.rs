//! One signed AWS Query API call: a form body, SigV4, the guarded client, the answer's text.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use credless_exchange::AwsCredentials;
use credless_resources::{Kind, ResourceError, ResourceId};
use tracing::Instrument as _;

use super::errors;
use crate::sdk_credentials;

/// The content type of every Query API request.
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// An AWS service spoken to through the Query API.
#[derive(Debug, Clone, Copy)]
pub(super) struct Service {
    /// The SigV4 signing name, also the first label of the default host.
    name: &'static str,
    /// The API version every request names.
    version: &'static str,
}

impl Service {
    /// Amazon EC2, API version 2016-11-15.
    pub(super) const EC2: Self = Self {
        name: "ec2",
        version: "2016-11-15",
    };
    /// Amazon RDS, API version 2014-10-31.
    pub(super) const RDS: Self = Self {
        name: "rds",
        version: "2014-10-31",
    };
}

/// The parameters of one call, in the order they were added.
#[derive(Debug)]
pub(super) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// The parameters of `action`; the API version is added when the call is made.
    pub(super) fn action(action: &str) -> Self {
        Self {
            pairs: vec![("Action".to_owned(), action.to_owned())],
        }
    }

    /// Adds one parameter.
    pub(super) fn add(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.pairs.push((key.into(), value.into()));
        self
    }

    fn action_name(&self) -> &str {
        self.pairs.first().map_or("", |(_, action)| action.as_str())
    }
}

/// A service in one region, called with one caller's credentials for one account.
pub(super) struct Api<'a> {
    http: &'a reqwest::Client,
    service: Service,
    endpoint: String,
    region: &'a str,
    credentials: &'a AwsCredentials,
    account: &'a str,
}

impl<'a> Api<'a> {
    /// `configured` is the configured endpoint; empty means the service's regional endpoint.
    pub(super) fn new(
        http: &'a reqwest::Client,
        service: Service,
        configured: &str,
        region: &'a str,
        credentials: &'a AwsCredentials,
        account: &'a str,
    ) -> Self {
        let endpoint = if configured.is_empty() {
            let domain = if region.starts_with("cn-") {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            format!("https://{}.{region}.{domain}/", service.name)
        } else {
            format!("{}/", configured.trim_end_matches('/'))
        };
        Self {
            http,
            service,
            endpoint,
            region,
            credentials,
            account,
        }
    }

    /// The region calls go to.
    pub(super) fn region(&self) -> &str {
        self.region
    }

    /// The Credless id of the resource `native_id` of `kind` in this account and region.
    pub(super) fn resource_id(&self, kind: Kind, native_id: &str) -> String {
        ResourceId {
            account: self.account.to_owned(),
            kind,
            location: self.region.to_owned(),
            native_id: native_id.to_owned(),
        }
        .encode()
    }

    /// The account id Credless knows the account by.
    pub(super) fn account(&self) -> &str {
        self.account
    }

    /// Makes the call and returns the body of a successful answer.
    ///
    /// Fails with the [`ResourceError`] the service's error code calls for, or `Unavailable`
    /// when the service cannot be reached, does not answer in time or answers with a server
    /// error.
    pub(super) async fn call(&self, mut params: Params) -> Result<String, ResourceError> {
        params.add("Version", self.service.version);
        let action = params.action_name().to_owned();
        let span = tracing::debug_span!(
            "aws.query",
            provider = "aws",
            account.id = %self.account,
            aws.service = self.service.name,
            aws.action = %action,
            aws.region = %self.region,
        );
        let answer = self.send(&params).instrument(span.clone()).await;
        let _entered = span.enter();
        match &answer {
            Ok(_) => tracing::debug!("AWS answered"),
            Err(error) => {
                tracing::info!(cloud.code = error.cloud_code(), %error, "AWS refused or failed");
            }
        }
        answer
    }

    async fn send(&self, params: &Params) -> Result<String, ResourceError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params.pairs)
            .finish()
            .into_bytes();
        let request = self.signed(body)?;
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|error| unreachable(&error))?;

        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.map_err(|error| unreachable(&error))?;
        if (200..300).contains(&status) {
            Ok(text)
        } else {
            Err(errors::from_answer(status, retry_after, &text))
        }
    }

    /// The request with its SigV4 `Authorization`, `X-Amz-Date` and `X-Amz-Security-Token`.
    fn signed(&self, body: Vec<u8>) -> Result<reqwest::Request, ResourceError> {
        let identity: Identity = sdk_credentials(self.credentials).into();
        let settings = v4::SigningParams::builder()
            .identity(&identity)
            .region(self.region)
            .name(self.service.name)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|error| not_built(&error))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            self.endpoint.as_str(),
            [("content-type", FORM)].into_iter(),
            SignableBody::Bytes(&body),
        )
        .map_err(|error| not_built(&error))?;
        let (instructions, _signature) = sign(signable, &settings)
            .map_err(|error| not_built(&error))?
            .into_parts();

        let mut request = http::Request::post(&self.endpoint)
            .header(http::header::CONTENT_TYPE, FORM)
            .body(body)
            .map_err(|error| not_built(&error))?;
        instructions.apply_to_request_http1x(&mut request);
        reqwest::Request::try_from(request).map_err(|error| not_built(&error))
    }
}

/// The request could not be put together; says nothing of the credentials.
fn not_built(error: &dyn std::fmt::Display) -> ResourceError {
    ResourceError::Unavailable {
        cloud_code: None,
        message: format!("the AWS request could not be built: {error}"),
    }
}

/// The service could not be reached or did not answer in time.
fn unreachable(error: &reqwest::Error) -> ResourceError {
    let message = if credless_session::outbound::is_refused_address(error) {
        "the AWS endpoint is an internal address, which is refused"
    } else if error.is_timeout() {
        "AWS did not answer in time"
    } else {
        "AWS could not be reached"
    };
    ResourceError::Unavailable {
        cloud_code: None,
        message: message.to_owned(),
    }
}
