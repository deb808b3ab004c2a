//! A real moto server (the Python AWS fake) in a child process, for positive end-to-end tests
//! against an independent implementation of the AWS APIs.
//!
//! moto accepts `AssumeRoleWithWebIdentity` without checking the token or the role, so it
//! serves success paths only; [`crate::aws_sts::FakeSts`] covers the refusals.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// How long moto may take to start answering.
const START_DEADLINE: Duration = Duration::from_secs(90);

/// How long one `pip install` may hold the install lock before others take it over.
const STALE_LOCK: Duration = Duration::from_secs(600);

/// A moto server on `127.0.0.1` at a free port, killed when dropped.
///
/// [`start`](Self::start) runs `moto_server` from `PATH`, or else installs `moto[server]` once
/// with `python3 -m pip install --target` into a cache directory and runs it from there. The
/// directory is `$CREDLESS_MOTO_DIR` when set (which also skips the `PATH` lookup), else
/// `moto/` under `$CARGO_TARGET_DIR` or the workspace's `target/`. Concurrent installs wait on
/// a lock file beside it.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    address: SocketAddr,
}

impl MotoServer {
    /// Starts moto and waits until it answers HTTP.
    ///
    /// Fails when Python or pip is missing, the install fails, or moto exits or does not
    /// answer within 90 seconds.
    pub async fn start() -> io::Result<Self> {
        let port = free_port()?;
        // Finding or installing moto blocks for a while on a fresh machine: off the runtime.
        let mut command = tokio::task::spawn_blocking(moto_command)
            .await
            .map_err(io::Error::other)??;
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command.spawn()?;
        let mut server = Self {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        server.wait_until_ready().await?;
        Ok(server)
    }

    /// The endpoint URL for every AWS service, such as `http://127.0.0.1:5000`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Forgets every resource and credential, as `POST /moto-api/reset` does.
    ///
    /// Fails when moto does not answer `200`.
    pub async fn reset(&self) -> io::Result<()> {
        match http_status(self.address, "POST", "/moto-api/reset").await? {
            200 => Ok(()),
            status => Err(io::Error::other(format!(
                "moto answered {status} to a reset"
            ))),
        }
    }

    async fn wait_until_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!("moto exited at start: {status}")));
            }
            if http_status(self.address, "GET", "/moto-api/").await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "moto did not answer within 90 seconds",
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The command that runs moto's server, installing moto first when needed.
fn moto_command() -> io::Result<Command> {
    let explicit = std::env::var_os("CREDLESS_MOTO_DIR").map(PathBuf::from);
    if explicit.is_none()
        && let Some(binary) = on_path("moto_server")
    {
        return Ok(Command::new(binary));
    }
    let dir = explicit.unwrap_or_else(default_install_dir);
    install_once(&dir)?;
    let mut command = Command::new("python3");
    command.args(["-m", "moto.server"]).env("PYTHONPATH", &dir);
    Ok(command)
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn default_install_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join("moto")
}

/// Installs `moto[server]` into `dir` unless it is there, one process at a time.
fn install_once(dir: &Path) -> io::Result<()> {
    let installed = || dir.join("moto").join("server.py").is_file();
    if installed() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let lock = dir.with_extension("lock");
    let _guard = InstallLock::acquire(&lock)?;
    if installed() {
        return Ok(());
    }
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
        ])
        .arg(dir)
        .arg("moto[server]")
        .stdin(Stdio::null())
        .status()?;
    if status.success() && installed() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "pip could not install moto[server] ({status})"
        )))
    }
}

/// A lock file created exclusively, removed on drop; a lock older than ten minutes is
/// taken to belong to a crashed install.
struct InstallLock(PathBuf);

impl InstallLock {
    fn acquire(path: &Path) -> io::Result<Self> {
        let deadline = Instant::now() + STALE_LOCK;
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(_) => return Ok(Self(path.to_owned())),
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                    let age = std::fs::metadata(path)
                        .and_then(|meta| meta.modified())
                        .ok()
                        .and_then(|modified| SystemTime::now().duration_since(modified).ok());
                    if age.is_some_and(|age| age > STALE_LOCK) || Instant::now() > deadline {
                        let _ = std::fs::remove_file(path);
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(error) => return Err(error),
            }
        }
    }
}

impl Drop for InstallLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Sends a bodiless HTTP/1.1 request and returns the status code.
async fn http_status(address: SocketAddr, method: &str, path: &str) -> io::Result<u16> {
    let mut stream = TcpStream::connect(address).await?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let status_line = String::from_utf8_lossy(&answer);
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| io::Error::other("moto answered something that is not HTTP"))
}
