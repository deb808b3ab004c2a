//! `credless dev`: the dev environment of `credless-dev`, its banner, and a clean stop.

use credless_dev::{DevEnvironment, DevOptions};
use credless_gateway::config::LogConfig;
use credless_gateway::telemetry;

use crate::Failure;
use crate::cli::DevArgs;

pub(crate) async fn run(args: DevArgs) -> Result<(), Failure> {
    telemetry::init(&LogConfig::default())?;
    let options = DevOptions {
        listen: args.listen,
        admin_listen: args.admin_listen,
        data_dir: args.data_dir,
    };
    let environment = DevEnvironment::start(options)
        .await
        .map_err(|error| Failure::Other(error.into()))?;
    let info = environment.info();
    if args.json {
        println!("{}", info.to_json_line());
    } else {
        println!("{}", info.to_text());
    }
    crate::shutdown_signal().await;
    environment.shutdown().await;
    Ok(())
}
