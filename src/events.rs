//! Event callbacks, named and fired as pyftpdlib's `FTPHandler` fires them.

use std::net::SocketAddr;
use std::path::Path;

/// Who a callback is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The client's address.
    pub remote: SocketAddr,
    /// The logged-in user, if any.
    pub username: Option<String>,
}

/// Callbacks fired by every session. All methods default to doing nothing;
/// implement the ones you need. They run on the session's own thread (or
/// process), so they may block without stalling other sessions in the
/// thread and process models.
pub trait EventHandler: Send + Sync {
    /// A client connected (before the banner is sent).
    fn on_connect(&self, session: &SessionInfo) {
        let _ = session;
    }
    /// The control connection closed, for whatever reason (fired exactly once).
    fn on_disconnect(&self, session: &SessionInfo) {
        let _ = session;
    }
    /// A user logged in.
    fn on_login(&self, session: &SessionInfo, username: &str) {
        let _ = (session, username);
    }
    /// A login was refused.
    fn on_login_failed(&self, session: &SessionInfo, username: &str, password: &str) {
        let _ = (session, username, password);
    }
    /// A logged-in user logged out cleanly (QUIT, REIN, or USER while logged in);
    /// not fired when the connection just closes or times out (as in pyftpdlib).
    fn on_logout(&self, session: &SessionInfo, username: &str) {
        let _ = (session, username);
    }
    /// A RETR completed.
    fn on_file_sent(&self, session: &SessionInfo, file: &Path) {
        let _ = (session, file);
    }
    /// A STOR, APPE or STOU completed.
    fn on_file_received(&self, session: &SessionInfo, file: &Path) {
        let _ = (session, file);
    }
    /// A RETR ended before the whole file was sent.
    fn on_incomplete_file_sent(&self, session: &SessionInfo, file: &Path) {
        let _ = (session, file);
    }
    /// A STOR, APPE or STOU ended before the upload completed.
    fn on_incomplete_file_received(&self, session: &SessionInfo, file: &Path) {
        let _ = (session, file);
    }
}

/// The handler that ignores every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoEvents;

impl EventHandler for NoEvents {}

/// One event, as the session state machine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// See [`EventHandler::on_connect`].
    Connect,
    /// See [`EventHandler::on_disconnect`].
    Disconnect,
    /// See [`EventHandler::on_login`].
    Login(String),
    /// See [`EventHandler::on_login_failed`]: username and password.
    LoginFailed(String, String),
    /// See [`EventHandler::on_logout`].
    Logout(String),
    /// See [`EventHandler::on_file_sent`].
    FileSent(std::path::PathBuf),
    /// See [`EventHandler::on_file_received`].
    FileReceived(std::path::PathBuf),
    /// See [`EventHandler::on_incomplete_file_sent`].
    IncompleteFileSent(std::path::PathBuf),
    /// See [`EventHandler::on_incomplete_file_received`].
    IncompleteFileReceived(std::path::PathBuf),
}

impl Event {
    /// Call the matching method of `handler`.
    pub fn dispatch(&self, handler: &dyn EventHandler, session: &SessionInfo) {
        match self {
            Event::Connect => handler.on_connect(session),
            Event::Disconnect => handler.on_disconnect(session),
            Event::Login(u) => handler.on_login(session, u),
            Event::LoginFailed(u, p) => handler.on_login_failed(session, u, p),
            Event::Logout(u) => handler.on_logout(session, u),
            Event::FileSent(p) => handler.on_file_sent(session, p),
            Event::FileReceived(p) => handler.on_file_received(session, p),
            Event::IncompleteFileSent(p) => handler.on_incomplete_file_sent(session, p),
            Event::IncompleteFileReceived(p) => handler.on_incomplete_file_received(session, p),
        }
    }
}
