//! How EC2 and RDS refusals reach the caller, and what every request carries, against fakes
//! that answer as the services do: `text/xml` error documents (EC2's
//! `<Response><Errors><Error>`, RDS's `<ErrorResponse><Error>`) with the statuses AWS uses,
//! served only to requests signed with SigV4 for the right service, region and session.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use credless_aws::resources::{AwsResources, AwsResourcesConfig};
use credless_exchange::{AwsCredentials, Credentials, Secret};
use credless_registry::{Account, AwsAccount};
use credless_resources::{
    Kind, ResourceContext, ResourceError, ResourceId, ResourceProvider as _, ResourceRequest,
};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const REGION: &str = "eu-west-1";
const ACCESS_KEY_ID: &str = "ASIAEXAMPLEEXAMPLE01";
const SECRET: &str = "wJalrXUtnFEMI-example-secret";
const SESSION_TOKEN: &str = "FwoGZXIvYXdzEexample-session-token";

/// Matches requests signed as AWS checks them before anything else: SigV4 for `service` in
/// [`REGION`] with the caller's key, the signed session token, and a Query API form body.
struct SignedFor(&'static str);

impl wiremock::Match for SignedFor {
    fn matches(&self, request: &Request) -> bool {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
        };
        let date = header("x-amz-date");
        let scope = format!(
            "Credential={ACCESS_KEY_ID}/{}/{REGION}/{}/aws4_request",
            date.get(..8).unwrap_or("none"),
            self.0
        );
        let authorization = header("authorization");
        let signature = authorization
            .rsplit("Signature=")
            .next()
            .unwrap_or_default();
        authorization.starts_with("AWS4-HMAC-SHA256 ")
            && authorization.contains(&scope)
            && authorization.contains("x-amz-security-token")
            && signature.len() == 64
            && signature.chars().all(|c| c.is_ascii_hexdigit())
            && header("x-amz-security-token") == SESSION_TOKEN
            && header("content-type").starts_with("application/x-www-form-urlencoded")
    }
}

struct World {
    server: MockServer,
    provider: AwsResources,
    account: Account,
    credentials: Credentials,
}

impl World {
    async fn start() -> Self {
        Self::with_timeout(Duration::from_secs(5)).await
    }

    async fn with_timeout(timeout: Duration) -> Self {
        let server = MockServer::start().await;
        let config = AwsResourcesConfig {
            allow_insecure_upstreams: true,
            timeout,
            ..AwsResourcesConfig::with_endpoint(server.uri())
        };
        Self {
            provider: AwsResources::new(config).unwrap(),
            server,
            account: Account::Aws(AwsAccount {
                id: "prod-aws".into(),
                display_name: None,
                allowed_groups: Vec::new(),
                role_arn: "arn:aws:iam::123456789012:role/credless".into(),
                region: REGION.into(),
            }),
            credentials: Credentials::Aws(AwsCredentials {
                access_key_id: ACCESS_KEY_ID.into(),
                secret_access_key: Secret::new(SECRET),
                session_token: Secret::new(SESSION_TOKEN),
                expires_at: SystemTime::now() + Duration::from_secs(3600),
                assumed_role_arn: "arn:aws:sts::123456789012:assumed-role/credless/jane".into(),
            }),
        }
    }

    fn cx(&self) -> ResourceContext<'_> {
        ResourceContext {
            account: &self.account,
            credentials: &self.credentials,
        }
    }

    fn id(&self, kind: Kind, native_id: &str) -> ResourceId {
        ResourceId {
            account: "prod-aws".into(),
            kind,
            location: REGION.into(),
            native_id: native_id.into(),
        }
    }

    /// Answers signed `action` calls of `service` with `status` and an XML `body`.
    async fn answer(&self, service: &'static str, action: &str, status: u16, body: String) {
        self.server.reset().await;
        Mock::given(method("POST"))
            .and(path("/"))
            .and(SignedFor(service))
            .and(body_string_contains(format!("Action={action}")))
            .respond_with(
                ResponseTemplate::new(status)
                    .insert_header("content-type", "text/xml;charset=UTF-8")
                    .set_body_string(body),
            )
            .mount(&self.server)
            .await;
    }
}

fn ec2_error(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
         <Message>{message}</Message></Error></Errors>\
         <RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>"
    )
}

fn rds_error(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\">\n  <Error>\n    \
         <Type>Sender</Type>\n    <Code>{code}</Code>\n    <Message>{message}</Message>\n  \
         </Error>\n  <RequestId>5e2a9a5f-2b61-4d7e-a3c6-example</RequestId>\n</ErrorResponse>"
    )
}

/// The variant's name and, for `Invalid`, the field.
fn shape(error: &ResourceError) -> String {
    match error {
        ResourceError::Invalid { field, .. } => format!("Invalid({field})"),
        other => format!("{other:?}")
            .split([' ', '{'])
            .next()
            .unwrap()
            .to_owned(),
    }
}

#[tokio::test]
async fn ec2_error_codes_map_to_what_the_caller_can_do() {
    let world = World::start().await;
    let id = world.id(Kind::Vm, "i-0123456789abcdef0");
    // One case a line reads as the table it is.
    #[rustfmt::skip]
    let cases = [
        (400, "InvalidInstanceID.NotFound", "The instance ID does not exist", "NotFound"),
        (403, "UnauthorizedOperation", "You are not authorized.", "Denied"),
        (400, "InstanceLimitExceeded", "Your quota allows 0 more.", "Quota"),
        (500, "InsufficientInstanceCapacity", "No capacity.", "Quota"),
        (400, "VcpuLimitExceeded", "Too many vCPUs.", "Quota"),
        (400, "IncorrectInstanceState", "Not in a state to be started.", "Conflict"),
        (400, "InvalidParameterValue", "Invalid value for InstanceType.", "Invalid(size)"),
        (400, "InvalidAMIID.NotFound", "The image id does not exist", "Invalid(image)"),
        (400, "InvalidParameterCombination", "Both given.", "Invalid(request)"),
        (503, "RequestLimitExceeded", "Request limit exceeded.", "Throttled"),
        (500, "InternalError", "An internal error has occurred.", "Unavailable"),
    ];
    for (status, code, message, expected) in cases {
        world
            .answer("ec2", "StartInstances", status, ec2_error(code, message))
            .await;
        let error = world.provider.start(world.cx(), &id).await.unwrap_err();
        assert_eq!(shape(&error), expected, "{code}: {error:?}");
        if expected != "NotFound" {
            assert_eq!(error.cloud_code(), Some(code), "{code}");
        }
    }
}

#[tokio::test]
async fn rds_error_codes_map_to_what_the_caller_can_do() {
    let world = World::start().await;
    let id = world.id(Kind::Database, "orders");
    // One case a line reads as the table it is.
    #[rustfmt::skip]
    let cases = [
        (404, "DBInstanceNotFound", "DBInstance orders not found.", "NotFound"),
        (403, "AccessDenied", "Not authorized to perform rds:StopDBInstance", "Denied"),
        (400, "InstanceQuotaExceeded", "Cannot create more DB instances.", "Quota"),
        (400, "StorageQuotaExceeded", "Over the storage quota.", "Quota"),
        (400, "InvalidDBInstanceState", "Instance orders is not available.", "Conflict"),
        (400, "DBInstanceAlreadyExists", "DB instance already exists", "Conflict"),
        (400, "InvalidParameterValue", "Invalid DB Instance class", "Invalid(size)"),
        (400, "InvalidParameterCombination", "Cannot find version 99.1", "Invalid(engine_version)"),
        (400, "Throttling", "Rate exceeded", "Throttled"),
        (500, "InternalFailure", "An internal error occurred.", "Unavailable"),
    ];
    for (status, code, message, expected) in cases {
        world
            .answer("rds", "StopDBInstance", status, rds_error(code, message))
            .await;
        let error = world.provider.stop(world.cx(), &id).await.unwrap_err();
        assert_eq!(shape(&error), expected, "{code}: {error:?}");
    }
}

#[tokio::test]
async fn garbage_server_errors_and_silence_are_unavailable() {
    let world = World::start().await;
    let id = world.id(Kind::Vm, "i-0123456789abcdef0");

    world
        .answer("ec2", "DescribeInstances", 200, "<html>not xml".to_owned())
        .await;
    let error = world.provider.get(world.cx(), &id).await.unwrap_err();
    assert!(
        matches!(error, ResourceError::Unavailable { .. }),
        "{error:?}"
    );

    world
        .answer("ec2", "DescribeInstances", 502, "Bad Gateway".to_owned())
        .await;
    let error = world.provider.get(world.cx(), &id).await.unwrap_err();
    assert!(
        matches!(
            error,
            ResourceError::Unavailable {
                cloud_code: None,
                ..
            }
        ),
        "{error:?}"
    );

    let slow = World::with_timeout(Duration::from_millis(300)).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&slow.server)
        .await;
    let error = slow.provider.get(slow.cx(), &id).await.unwrap_err();
    assert!(
        matches!(error, ResourceError::Unavailable { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("in time"), "{error}");
}

#[tokio::test]
async fn requests_are_signed_query_calls_with_the_session_token_and_leak_no_secret() {
    let world = World::start().await;
    let answer = "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
                  <requestId>r-1</requestId><reservationSet/></DescribeInstancesResponse>";
    world
        .answer("ec2", "DescribeInstances", 200, answer.to_owned())
        .await;

    let listed = world
        .provider
        .list(world.cx(), Kind::Vm, true)
        .await
        .unwrap();
    assert!(listed.is_empty());

    let requests = world.server.received_requests().await.unwrap();
    let [request] = requests.as_slice() else {
        panic!("{} requests", requests.len())
    };
    let body = String::from_utf8(request.body.clone()).unwrap();
    for part in [
        "Action=DescribeInstances",
        "Version=2016-11-15",
        "Filter.1.Name=tag%3Amanaged-by",
        "Filter.1.Value.1=credless",
    ] {
        assert!(body.contains(part), "{part} in {body}");
    }
    assert!(!body.contains(SECRET) && !body.contains(SESSION_TOKEN));
    let authorization = request.headers["authorization"].to_str().unwrap();
    assert!(!authorization.contains(SECRET));
    assert!(!format!("{:?}", world.provider).contains(SECRET));
    assert!(!format!("{:?}", world.credentials).contains(SESSION_TOKEN));
}

#[tokio::test]
async fn a_vm_without_an_image_and_a_forged_id_never_reach_aws() {
    let world = World::start().await;
    let request = ResourceRequest {
        kind: Kind::Vm,
        name: "web-1".into(),
        region: REGION.into(),
        size: "small".into(),
        image: None,
        engine: None,
        engine_version: None,
        tags: BTreeMap::new(),
    };
    let error = world
        .provider
        .create(world.cx(), &request)
        .await
        .unwrap_err();
    assert_eq!(shape(&error), "Invalid(image)");

    let mut foreign = world.id(Kind::Vm, "i-0123456789abcdef0");
    foreign.account = "someone-else".into();
    let error = world.provider.get(world.cx(), &foreign).await.unwrap_err();
    assert!(matches!(error, ResourceError::NotFound { .. }), "{error:?}");

    let mut elsewhere = world.id(Kind::Vm, "i-0123456789abcdef0");
    elsewhere.location = "attacker.example/".into();
    let error = world
        .provider
        .get(world.cx(), &elsewhere)
        .await
        .unwrap_err();
    assert_eq!(shape(&error), "Invalid(region)");

    assert!(world.server.received_requests().await.unwrap().is_empty());
}
