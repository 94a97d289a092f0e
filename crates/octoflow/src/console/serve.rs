//! The console's listener: bound (and its TLS key read) before the server
//! drops privileges, then one accepting thread, a thread per connection (at
//! most [`MAX_CONNECTIONS`] at once; more get 503), the status sampler, and a
//! thread that keeps the profiles' series decoded (every 10 s, re-reading a
//! file only when it changed).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::http::{self, Response, IO_TIMEOUT};
use super::status::{Source, Status};
use super::App;
use crate::config::console::{Console, Tls};
use crate::config::Config;

/// Connections served at once.
const MAX_CONNECTIONS: usize = 64;

/// The socket and TLS settings, ready before privileges are dropped.
pub struct Bound {
    listener: TcpListener,
    addr: SocketAddr,
    listen: SocketAddr,
    tls_files: Option<Tls>,
    tls: Option<Arc<rustls::ServerConfig>>,
}

/// Bind `console.listen` and read the TLS certificate and key.
pub fn bind(c: &Console) -> Result<Bound, String> {
    let listener = TcpListener::bind(c.listen)
        .map_err(|e| format!("console.listen: cannot listen on {}: {e}", c.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let tls = c.tls.as_ref().map(tls_config).transpose()?;
    Ok(Bound {
        listener,
        addr,
        listen: c.listen,
        tls_files: c.tls.clone(),
        tls,
    })
}

fn tls_config(t: &Tls) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&t.cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("console.tls.cert: {}: {e}", t.cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "console.tls.cert: {} holds no certificate (PEM, BEGIN CERTIFICATE)",
            t.cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&t.key)
        .map_err(|e| format!("console.tls.key: {}: {e}", t.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("console.tls: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("console.tls: the certificate and key do not go together: {e}"))?;
    Ok(Arc::new(cfg))
}

/// A running console.
pub struct Running {
    pub app: Arc<App>,
    pub addr: SocketAddr,
    /// What it was started with (a reload changes neither).
    pub listen: SocketAddr,
    pub tls: Option<Tls>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Bound {
    /// Serve `cfg`'s console until [`Running::stop`].
    pub fn start(self, cfg: Arc<Config>) -> Result<Running, String> {
        let app = Arc::new(App::new(cfg.clone(), self.tls.is_some()));
        let stop = Arc::new(AtomicBool::new(false));
        let source = Source {
            socket: cfg.supervisor.unix_socket.clone(),
            metrics: cfg.general.metrics_listen,
            token: cfg.general.metrics_token.as_ref().map(|(_, t)| t.clone()),
        };
        let sampler = {
            let (status, stop): (Arc<Status>, _) = (app.status.clone(), stop.clone());
            std::thread::Builder::new()
                .name("console-status".into())
                .spawn(move || status.run(source, stop))
                .map_err(|e| format!("cannot start the console: {e}"))?
        };
        let warmer = {
            let (app, stop) = (app.clone(), stop.clone());
            std::thread::Builder::new()
                .name("console-series".into())
                .spawn(move || {
                    while !stop.load(Relaxed) {
                        app.warm_series();
                        for _ in 0..100 {
                            if stop.load(Relaxed) {
                                return;
                            }
                            std::thread::sleep(std::time::Duration::from_millis(100));
                        }
                    }
                })
                .map_err(|e| format!("cannot start the console: {e}"))?
        };
        let acceptor = {
            let (app, stop, tls) = (app.clone(), stop.clone(), self.tls);
            let listener = self.listener;
            std::thread::Builder::new()
                .name("console".into())
                .spawn(move || accept(listener, app, tls, stop))
                .map_err(|e| format!("cannot start the console: {e}"))?
        };
        tracing::info!(
            listen = %self.addr,
            tls = app.tls,
            "console: serving {}://{}/",
            if app.tls { "https" } else { "http" },
            self.addr
        );
        Ok(Running {
            app,
            addr: self.addr,
            listen: self.listen,
            tls: self.tls_files,
            stop,
            threads: vec![sampler, warmer, acceptor],
        })
    }
}

impl Running {
    pub fn stop(self) {
        self.stop.store(true, Relaxed);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn accept(
    l: TcpListener,
    app: Arc<App>,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: Arc<AtomicBool>,
) {
    let live = Arc::new(AtomicUsize::new(0));
    for s in l.incoming() {
        if stop.load(Relaxed) {
            break;
        }
        let Ok(mut s) = s else {
            // EMFILE and the like: give the system a moment rather than spin.
            std::thread::sleep(std::time::Duration::from_millis(50));
            continue;
        };
        if live.load(Relaxed) >= MAX_CONNECTIONS {
            let _ = s.set_write_timeout(Some(IO_TIMEOUT));
            let _ = Response::error(503, "busy: too many connections").write(&mut s, false);
            continue;
        }
        let slot = Slot::take(&live);
        let (app, tls) = (app.clone(), tls.clone());
        let _ = std::thread::Builder::new()
            .name("console-conn".into())
            .spawn(move || {
                let _slot = slot;
                connection(&app, s, tls);
            });
    }
}

/// One of the [`MAX_CONNECTIONS`], given back when dropped (a connection's
/// end, a panic, or a thread that did not start).
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(live: &Arc<AtomicUsize>) -> Slot {
        live.fetch_add(1, Relaxed);
        Slot(live.clone())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

fn connection(app: &App, s: TcpStream, tls: Option<Arc<rustls::ServerConfig>>) {
    let _ = s.set_read_timeout(Some(IO_TIMEOUT));
    let _ = s.set_write_timeout(Some(IO_TIMEOUT));
    let _ = s.set_nodelay(true);
    match tls {
        None => exchange(app, &mut &s),
        Some(cfg) => match rustls::ServerConnection::new(cfg) {
            Ok(conn) => {
                let mut t = rustls::StreamOwned::new(conn, s);
                exchange(app, &mut t);
                t.conn.send_close_notify();
                let _ = t.flush();
            }
            Err(e) => tracing::warn!("console: TLS: {e}"),
        },
    }
}

/// One request and its answer.
fn exchange(app: &App, s: &mut (impl Read + Write)) {
    match http::read_request(s) {
        Ok(Some(req)) => {
            // A bug in one request answers 500 and costs nothing else.
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| app.handle(&req)))
                .unwrap_or_else(|_| {
                    tracing::error!(path = %req.path, "console: a request panicked");
                    Response::error(500, "internal error (logged)")
                });
            tracing::debug!(method = %req.method, path = %req.path, status = r.status, "console");
            let _ = r.write(s, req.method == "HEAD");
        }
        Ok(None) => {}
        Err(e) => {
            let _ = Response::error(400, format!("bad request: {e}")).write(s, false);
        }
    }
}

/// `octoflow console`: serve `cfg`'s console until SIGTERM or SIGINT.
pub fn run_alone(cfg: Config) -> Result<(), String> {
    use nix::sys::signal::{SigSet, Signal};
    let Some(c) = cfg.console.as_ref() else {
        return Err(format!(
            "{}: no console section; add one, e.g. console: {{listen: 127.0.0.1:8080, users: [{{name: noc, password_hash: '…', role: admin}}]}}",
            cfg.path.display()
        ));
    };
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    signals
        .thread_block()
        .map_err(|e| format!("cannot block signals: {e}"))?;
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    let running = bind(c)?.start(Arc::new(cfg))?;
    let sig = signals
        .wait()
        .map_err(|e| format!("waiting for signals: {e}"))?;
    tracing::info!("{sig}: console stopping");
    running.stop();
    Ok(())
}
