// SPDX-License-Identifier: GPL-2.0

//! TLS handshakes through `tlshd`: the TLS request a consumer submits, its ACCEPT reply, the
//! peer identity its DONE reports, and the close alert after a successful session.

#![forbid(unsafe_code)]

use crate::{
    abstractions::{
        genl::{
            GenlMsg,
            Gfp,
            Info,
            PutAttrs, //
        },
        keys::{
            KeyRef,
            KeySerial,
            Need,
            KEY_SPEC_PROCESS_KEYRING, //
        },
        socket::Socket,
    },
    alert,
    genl_tables::{
        attr_accept,
        attr_done,
        attr_x509,
        auth,
        msg_type,
        HandlerClass, //
    },
    netlink,
    request::{
        self,
        Proto,
        Status, //
    },
};
use kernel::prelude::*;

/// `TLS_NO_KEYRING`, `TLS_NO_PEERID`, `TLS_NO_CERT`, `TLS_NO_PRIVKEY`.
pub(crate) const TLS_NO_KEY: KeySerial = 0;

/// The most peer identities a request carries.
pub(crate) const MAX_PEERIDS: usize = 5;

/// The consumer of a handshake: told the outcome once.
pub(crate) trait Consumer: Send + Sync + 'static {
    /// The handshake ended with `status` (0 or a negative errno); `peerid` is the remote peer's
    /// identity key or [`TLS_NO_KEY`].
    fn done(&self, status: i32, peerid: KeySerial);

    /// The address of the consumer's function `done` calls, to name the consumer; 0 if none.
    fn code(&self) -> usize {
        0
    }
}

/// Which handshake a consumer asked for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Hello {
    /// `tls_client_hello_anon`.
    ClientAnon,
    /// `tls_client_hello_x509`.
    ClientX509,
    /// `tls_client_hello_psk`.
    ClientPsk,
    /// `tls_server_hello_x509`.
    ServerX509,
    /// `tls_server_hello_psk`.
    ServerPsk,
}

/// What a consumer asks for, as `struct tls_handshake_args` carries it (less the socket).
pub(crate) struct HelloArgs<'a, C> {
    /// Who is told the outcome.
    pub(crate) consumer: C,
    /// The name of the peer to verify, if any.
    pub(crate) peername: Option<&'a CStr>,
    /// The consumer's time limit, for the agent (0: none).
    pub(crate) timeout_ms: u32,
    /// A keyring to hand to the agent, or [`TLS_NO_KEY`].
    pub(crate) keyring: KeySerial,
    /// The local certificate, or [`TLS_NO_KEY`].
    pub(crate) my_cert: KeySerial,
    /// The local private key, or [`TLS_NO_KEY`].
    pub(crate) my_privkey: KeySerial,
    /// The local identities (PSKs) array.
    pub(crate) my_peerids: [KeySerial; MAX_PEERIDS],
    /// How many of `my_peerids` a PSK client offers.
    pub(crate) num_peerids: u32,
}

/// The TLS part of a request.
pub(crate) struct TlsRequest<C> {
    consumer: C,
    msg_type: u32,
    auth_mode: u32,
    timeout_ms: u32,
    peername: Option<KVec<u8>>,
    keyring: KeySerial,
    certificate: KeySerial,
    privkey: KeySerial,
    peerids: KVec<KeySerial>,
}

impl<C: Consumer> TlsRequest<C> {
    /// Builds the TLS request a consumer asked for with `args`, allocating with `gfp`.
    pub(crate) fn new(args: HelloArgs<'_, C>, hello: Hello, gfp: Gfp) -> Result<Self> {
        let flags = gfp.to_flags();
        let (msg_type, auth_mode) = match hello {
            Hello::ClientAnon => (msg_type::CLIENTHELLO, auth::UNAUTH),
            Hello::ClientX509 => (msg_type::CLIENTHELLO, auth::X509),
            Hello::ClientPsk => (msg_type::CLIENTHELLO, auth::PSK),
            Hello::ServerX509 => (msg_type::SERVERHELLO, auth::X509),
            Hello::ServerPsk => (msg_type::SERVERHELLO, auth::PSK),
        };
        let ids: &[KeySerial] = match hello {
            Hello::ClientPsk => {
                let n = args.num_peerids as usize;
                if n == 0 || n > MAX_PEERIDS {
                    return Err(EINVAL);
                }
                &args.my_peerids[..n]
            }
            Hello::ServerPsk => &args.my_peerids[..1],
            _ => &[],
        };
        let mut peerids = KVec::with_capacity(ids.len(), flags)?;
        peerids.extend_from_slice(ids, flags)?;
        let (certificate, privkey) = match hello {
            Hello::ClientX509 | Hello::ServerX509 => (args.my_cert, args.my_privkey),
            _ => (TLS_NO_KEY, TLS_NO_KEY),
        };
        let peername = match args.peername {
            None => None,
            Some(name) => {
                let name = name.to_bytes_with_nul();
                let mut copy = KVec::with_capacity(name.len(), flags)?;
                copy.extend_from_slice(name, flags)?;
                Some(copy)
            }
        };
        Ok(TlsRequest {
            consumer: args.consumer,
            msg_type,
            auth_mode,
            timeout_ms: args.timeout_ms,
            peername,
            keyring: args.keyring,
            certificate,
            privkey,
            peerids,
        })
    }

    /// Writes the ACCEPT reply attributes for descriptor `fd` into `msg`.
    pub(crate) fn fill_reply(&self, msg: &mut GenlMsg, fd: u32) -> Result {
        msg.put_s32(attr_accept::SOCKFD, fd as i32)?;
        msg.put_u32(attr_accept::MESSAGE_TYPE, self.msg_type)?;
        if let Some(name) = Proto::peername(self) {
            msg.put_string(attr_accept::PEERNAME, name)?;
        }
        if self.timeout_ms != 0 {
            msg.put_u32(attr_accept::TIMEOUT, self.timeout_ms)?;
        }
        if self.keyring != TLS_NO_KEY {
            msg.put_u32(attr_accept::KEYRING, self.keyring as u32)?;
        }
        msg.put_u32(attr_accept::AUTH_MODE, self.auth_mode)?;
        match self.auth_mode {
            auth::PSK => {
                for id in self.peerids.iter() {
                    msg.put_u32(attr_accept::PEER_IDENTITY, *id as u32)?;
                }
            }
            auth::X509 if self.certificate != TLS_NO_KEY || self.privkey != TLS_NO_KEY => {
                msg.put_nest(attr_accept::CERTIFICATE, |m| {
                    m.put_s32(attr_x509::CERT, self.certificate)?;
                    m.put_s32(attr_x509::PRIVKEY, self.privkey)
                })?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Links the consumer's `keyring` into the agent's process keyring (creating that keyring if
/// needed), so the agent can use the keys the consumer put there. The agent needs write access
/// to its process keyring and link permission on `keyring`.
fn link_to_process_keyring(keyring: KeySerial) -> Result {
    let process = KeyRef::lookup_or_create(KEY_SPEC_PROCESS_KEYRING, Need::Write)?;
    let linked = KeyRef::lookup_or_create(keyring, Need::Link)?;
    process.link(&linked)
}

/// The peer identity handed to the consumer: the first remote identity the agent reported
/// (at most [`MAX_PEERIDS`] are considered), or `TLS_NO_PEERID`.
pub(crate) fn remote_peerid(ids: impl Iterator<Item = u32>) -> KeySerial {
    ids.take(MAX_PEERIDS)
        .next()
        .map_or(TLS_NO_KEY, |id| id as KeySerial)
}

impl<C: Consumer> Proto for TlsRequest<C> {
    fn class(&self) -> HandlerClass {
        HandlerClass::Tlshd
    }

    fn timeout_ms(&self) -> u32 {
        self.timeout_ms
    }

    fn consumer_code(&self) -> usize {
        self.consumer.code()
    }

    fn peername(&self) -> Option<&CStr> {
        let name = self.peername.as_deref()?;
        // Copied with its NUL from a C string, so it has one, at the end only.
        CStr::from_bytes_with_nul(name).ok()
    }

    fn auth_mode(&self) -> u32 {
        self.auth_mode
    }

    fn accept(&self, info: &Info<'_>, fd: u32) -> Result {
        if self.keyring != TLS_NO_KEY {
            link_to_process_keyring(self.keyring)?;
        }
        let mut msg = GenlMsg::new_reply(&netlink::FAMILY, info)?;
        self.fill_reply(&mut msg, fd)?;
        msg.reply(info)
    }

    fn done(&self, status: Status, info: Option<&Info<'_>>) {
        let peerid = info.map_or(TLS_NO_KEY, |info| {
            remote_peerid(
                info.attrs_of_type(attr_done::REMOTE_AUTH)
                    .filter_map(|a| a.get_u32().ok()),
            )
        });
        self.consumer.done(status.to_errno(), peerid);
    }
}

/// Submits the handshake `hello` on `sock` described by `args`, announcing it to the agents of
/// the socket's namespace.
pub(crate) fn hello<C: Consumer>(
    sock: &Socket,
    hello: Hello,
    args: HelloArgs<'_, C>,
    gfp: Gfp,
) -> Result {
    let treq = TlsRequest::new(args, hello, gfp)?;
    request::submit(sock, treq, gfp, netlink::announce)
}

/// Sends close_notify on `sock` if a session exists that was not closed yet; returns whether an
/// alert was attempted.
pub(crate) fn close(sock: &Socket) -> bool {
    let Some(req) = sock.sk().and_then(|sk| request::lookup(sk.key())) else {
        return false;
    };
    if !req.take_session() {
        return false;
    }
    let _ = alert::send(sock, alert::LEVEL_WARNING, alert::DESC_CLOSE_NOTIFY);
    true
}
