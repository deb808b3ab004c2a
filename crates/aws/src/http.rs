//! The HTTP client the AWS SDK sends through: Credless's guarded outbound `reqwest` client.
//!
//! Using the same client as every other outbound call keeps one TLS stack (rustls with aws-lc)
//! and one set of rules: no redirects, no proxy from the environment, timeouts, and no
//! internal addresses unless insecure upstreams are allowed.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

/// Wraps a `reqwest` client (build it with `credless_session::outbound::client`) as the HTTP
/// client of an AWS SDK client.
///
/// Request bodies must be in memory, as those of STS, EC2 and RDS are; a streaming body fails
/// the call. The client's own timeouts apply; the SDK's connect and read timeouts are ignored.
pub fn sdk_http_client(client: reqwest::Client) -> SharedHttpClient {
    SharedHttpClient::new(GuardedHttpClient {
        connector: SharedHttpConnector::new(GuardedConnector { client }),
    })
}

#[derive(Debug)]
struct GuardedHttpClient {
    connector: SharedHttpConnector,
}

impl HttpClient for GuardedHttpClient {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.connector.clone()
    }
}

#[derive(Debug)]
struct GuardedConnector {
    client: reqwest::Client,
}

impl HttpConnector for GuardedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        HttpConnectorFuture::new(send(client, request))
    }
}

async fn send(
    client: reqwest::Client,
    request: HttpRequest,
) -> Result<HttpResponse, ConnectorError> {
    let request = request
        .try_into_http1x()
        .map_err(|error| ConnectorError::user(error.into()))?;
    let (parts, body) = request.into_parts();
    let Some(body) = body.bytes().map(<[u8]>::to_vec) else {
        return Err(ConnectorError::user(
            "streaming request bodies are not supported by the guarded client".into(),
        ));
    };

    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(connector_error)?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(connector_error)?;

    let mut answer = http::Response::new(SdkBody::from(body));
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    HttpResponse::try_from(answer).map_err(|error| ConnectorError::other(error.into(), None))
}

/// Sorts a client error the way the SDK's retry and error classification expect.
fn connector_error(error: reqwest::Error) -> ConnectorError {
    if credless_session::outbound::is_refused_address(&error) {
        ConnectorError::user(Box::new(error))
    } else if error.is_timeout() {
        ConnectorError::timeout(Box::new(error))
    } else if error.is_connect() {
        ConnectorError::io(Box::new(error)).never_connected()
    } else {
        ConnectorError::io(Box::new(error))
    }
}
