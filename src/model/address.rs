//! Where a server-side request may go (SSRF). A URL that a client or an
//! administrator registers (a back-channel logout URL today, upstream IdP
//! endpoints with federation) makes the server send requests: one naming
//! this machine, the private network or the cloud's metadata service would
//! let whoever may edit it reach what only the server can.
//!
//! The rule is pure: [`reach`] classifies an address by the IANA
//! special-purpose address registries, [`is_loopback_name`] the names that
//! mean this machine whatever DNS says, and [`Destinations`] decides, from
//! them and the configuration, whether a URL or an address may be requested.
//! `outbound` applies it to every request, before connecting (IP literals)
//! and after resolving names; the Management API applies it when a URL is
//! registered.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Where an address leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The public Internet.
    Global,
    /// This machine: 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104.
    Loopback,
    /// Not globally reachable: the registry's range it is in.
    NonGlobal(Range),
}

/// A range of a special-purpose registry, as its entry names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub net: IpNet,
    pub name: &'static str,
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name, self.net)
    }
}

/// One entry of a special-purpose registry.
struct Special {
    range: Range,
    globally_reachable: bool,
}

/// What [`Reach::Loopback`] is refused as.
const LOOPBACK_V4: Range = Range {
    net: IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::LOCALHOST, 8)),
    name: "loopback",
};
const LOOPBACK_V6: Range = range_v6([0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback");

const GLOBAL: bool = true;
const NOT_GLOBAL: bool = false;

const fn v4(octets: [u8; 4], prefix: u8, name: &'static str, globally_reachable: bool) -> Special {
    let [a, b, c, d] = octets;
    let net = IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix));
    Special {
        range: Range { net, name },
        globally_reachable,
    }
}

const fn v6(
    segments: [u16; 8],
    prefix: u8,
    name: &'static str,
    globally_reachable: bool,
) -> Special {
    Special {
        range: range_v6(segments, prefix, name),
        globally_reachable,
    }
}

const fn range_v6(segments: [u16; 8], prefix: u8, name: &'static str) -> Range {
    let [a, b, c, d, e, f, g, h] = segments;
    let net = IpNet::V6(Ipv6Net::new_assert(
        Ipv6Addr::new(a, b, c, d, e, f, g, h),
        prefix,
    ));
    Range { net, name }
}

/// The IANA IPv4 Special-Purpose Address Registry (RFC 6890, as updated;
/// iana.org/assignments/iana-ipv4-special-registry): its entries that are
/// not globally reachable and the globally reachable ones nested in those;
/// plus multicast (RFC 5771, a registry of its own). The most specific
/// entry containing an address decides; an address in none is global.
#[rustfmt::skip]
const IPV4_SPECIAL: &[Special] = &[
    v4([0, 0, 0, 0], 8, "\"this network\"", NOT_GLOBAL), // RFC 791
    v4([10, 0, 0, 0], 8, "private-use", NOT_GLOBAL), // RFC 1918
    v4([100, 64, 0, 0], 10, "shared address space", NOT_GLOBAL), // RFC 6598
    v4([127, 0, 0, 0], 8, "loopback", NOT_GLOBAL), // RFC 1122
    v4([169, 254, 0, 0], 16, "link-local", NOT_GLOBAL), // RFC 3927
    v4([172, 16, 0, 0], 12, "private-use", NOT_GLOBAL), // RFC 1918
    v4([192, 0, 0, 0], 24, "IETF protocol assignments", NOT_GLOBAL), // RFC 6890
    v4([192, 0, 0, 9], 32, "PCP anycast", GLOBAL), // RFC 7723
    v4([192, 0, 0, 10], 32, "TURN anycast", GLOBAL), // RFC 8155
    v4([192, 0, 2, 0], 24, "documentation", NOT_GLOBAL), // RFC 5737
    v4([192, 88, 99, 0], 24, "deprecated 6to4 relay anycast", NOT_GLOBAL), // RFC 7526
    v4([192, 168, 0, 0], 16, "private-use", NOT_GLOBAL), // RFC 1918
    v4([198, 18, 0, 0], 15, "benchmarking", NOT_GLOBAL), // RFC 2544
    v4([198, 51, 100, 0], 24, "documentation", NOT_GLOBAL), // RFC 5737
    v4([203, 0, 113, 0], 24, "documentation", NOT_GLOBAL), // RFC 5737
    v4([224, 0, 0, 0], 4, "multicast", NOT_GLOBAL), // RFC 5771
    v4([240, 0, 0, 0], 4, "reserved", NOT_GLOBAL), // RFC 1112
    v4([255, 255, 255, 255], 32, "limited broadcast", NOT_GLOBAL), // RFC 919
];

/// The IANA IPv6 Special-Purpose Address Registry (RFC 6890, as updated;
/// iana.org/assignments/iana-ipv6-special-registry), read as the IPv4 one;
/// plus multicast (RFC 4291) and the deprecated site-local prefix (RFC
/// 3879). The forms that embed an IPv4 address (IPv4-mapped and
/// -compatible, NAT64's well-known prefix, 6to4, Teredo) are decided on
/// the embedded address before this table is read (see [`embedded_ipv4`]).
#[rustfmt::skip]
const IPV6_SPECIAL: &[Special] = &[
    v6([0, 0, 0, 0, 0, 0, 0, 0], 128, "unspecified", NOT_GLOBAL), // RFC 4291
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback", NOT_GLOBAL), // RFC 4291
    v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, "local-use IPv4/IPv6 translation", NOT_GLOBAL), // RFC 8215
    v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only", NOT_GLOBAL), // RFC 6666
    v6([0x100, 0, 0, 1, 0, 0, 0, 0], 64, "dummy prefix", NOT_GLOBAL), // RFC 9780
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23, "IETF protocol assignments", NOT_GLOBAL), // RFC 2928
    v6([0x2001, 1, 0, 0, 0, 0, 0, 1], 128, "PCP anycast", GLOBAL), // RFC 7723
    v6([0x2001, 1, 0, 0, 0, 0, 0, 2], 128, "TURN anycast", GLOBAL), // RFC 8155
    v6([0x2001, 1, 0, 0, 0, 0, 0, 3], 128, "DNS-SD SRP anycast", GLOBAL), // RFC 9665
    v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48, "benchmarking", NOT_GLOBAL), // RFC 5180
    v6([0x2001, 3, 0, 0, 0, 0, 0, 0], 32, "AMT", GLOBAL), // RFC 7450
    v6([0x2001, 4, 0x112, 0, 0, 0, 0, 0], 48, "AS112-v6", GLOBAL), // RFC 7535
    v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28, "deprecated ORCHID", NOT_GLOBAL), // RFC 4843
    v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28, "ORCHIDv2", GLOBAL), // RFC 7343
    v6([0x2001, 0x30, 0, 0, 0, 0, 0, 0], 28, "drone remote ID", GLOBAL), // RFC 9374
    v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "documentation", NOT_GLOBAL), // RFC 3849
    v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "documentation", NOT_GLOBAL), // RFC 9637
    v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16, "segment routing SIDs", NOT_GLOBAL), // RFC 9602
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique-local", NOT_GLOBAL), // RFC 4193
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local", NOT_GLOBAL), // RFC 4291
    v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "deprecated site-local", NOT_GLOBAL), // RFC 3879
    v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast", NOT_GLOBAL), // RFC 4291
];

/// How `ip` is reached, by the most specific entry of `table` containing it.
fn reach_in(table: &'static [Special], ip: IpAddr) -> Reach {
    let entry = table
        .iter()
        .filter(|entry| entry.range.net.contains(&ip))
        .max_by_key(|entry| entry.range.net.prefix_len());
    match entry {
        Some(entry) if !entry.globally_reachable => Reach::NonGlobal(entry.range),
        _ => Reach::Global,
    }
}

/// Where `ip` leads, by the registries above. An IPv4-mapped address is
/// its IPv4 address; the other forms that embed one are global only when
/// the embedded address is.
#[must_use]
pub fn reach(ip: IpAddr) -> Reach {
    match ip.to_canonical() {
        IpAddr::V4(ip) => reach_v4(ip),
        IpAddr::V6(ip) => reach_v6(ip),
    }
}

fn reach_v4(ip: Ipv4Addr) -> Reach {
    if ip.is_loopback() {
        return Reach::Loopback;
    }
    reach_in(IPV4_SPECIAL, IpAddr::V4(ip))
}

fn reach_v6(ip: Ipv6Addr) -> Reach {
    if ip.is_loopback() {
        return Reach::Loopback;
    }
    if let Some((form, embedded)) = embedded_ipv4(ip) {
        return match reach_v4(embedded) {
            Reach::Global => Reach::Global,
            Reach::Loopback | Reach::NonGlobal(_) => Reach::NonGlobal(form),
        };
    }
    reach_in(IPV6_SPECIAL, IpAddr::V6(ip))
}

/// The IPv4 address an IPv6 address leads to, with the name of the form
/// that embeds it: IPv4-compatible (`::a.b.c.d`, RFC 4291 §2.5.5.1,
/// deprecated), IPv4-translated (`::ffff:0:a.b.c.d`, RFC 2765 §2.1, what
/// SIIT translators route to), NAT64's well-known prefix (`64:ff9b::/96`, RFC 6052), 6to4
/// (`2002::/16`, RFC 3056: bits 16–47) and Teredo (`2001::/32`, RFC 4380:
/// the client's address, the last 32 bits inverted, which the relay sends
/// to). IPv4-mapped addresses (`::ffff:a.b.c.d`) are not here: [`reach`]
/// takes them as the IPv4 address they are.
#[must_use]
pub fn embedded_ipv4(ip: Ipv6Addr) -> Option<(Range, Ipv4Addr)> {
    const COMPATIBLE: Range = range_v6([0; 8], 96, "IPv4-compatible, of a non-global IPv4 address");
    const TRANSLATED: Range = range_v6(
        [0, 0, 0, 0, 0xffff, 0, 0, 0],
        96,
        "IPv4-translated, of a non-global IPv4 address",
    );
    const NAT64: Range = range_v6(
        [0x64, 0xff9b, 0, 0, 0, 0, 0, 0],
        96,
        "NAT64, of a non-global IPv4 address",
    );
    const SIX_TO_FOUR: Range = range_v6(
        [0x2002, 0, 0, 0, 0, 0, 0, 0],
        16,
        "6to4, of a non-global IPv4 address",
    );
    const TEREDO: Range = range_v6(
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        32,
        "Teredo, of a non-global IPv4 address",
    );
    let [.., a, b, c, d] = ip.octets();
    let last = Ipv4Addr::new(a, b, c, d);
    match ip.segments() {
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,
        [0, 0, 0, 0, 0, 0, _, _] => Some((COMPATIBLE, last)),
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some((TRANSLATED, last)),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some((NAT64, last)),
        [0x2002, ..] => {
            let [_, _, a, b, c, d, ..] = ip.octets();
            Some((SIX_TO_FOUR, Ipv4Addr::new(a, b, c, d)))
        }
        [0x2001, 0, ..] => Some((TEREDO, Ipv4Addr::from(!u32::from(last)))),
        _ => None,
    }
}

/// Host names that mean this machine whatever DNS says: `localhost` and
/// its subdomains (RFC 6761 §6.3), and the aliases of loopback that
/// distributions put in `/etc/hosts`; with or without the trailing dot, in
/// any case.
#[must_use]
pub fn is_loopback_name(name: &str) -> bool {
    const ALIASES: &[&str] = &[
        "localhost.localdomain",
        "localhost4",
        "localhost4.localdomain4",
        "localhost6",
        "localhost6.localdomain6",
        "ip6-localhost",
        "ip6-loopback",
    ];
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost") || ALIASES.contains(&name.as_str())
}

/// Whether `host` is this machine: a loopback name or address.
#[must_use]
pub fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => is_loopback_name(name),
        url::Host::Ipv4(ip) => reach(IpAddr::V4(*ip)) == Reach::Loopback,
        url::Host::Ipv6(ip) => reach(IpAddr::V6(*ip)) == Reach::Loopback,
    }
}

/// Why a request may not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(
        "{scheme} URLs are not requested (https only; plain http only to loopback when Switchyard itself runs on localhost)"
    )]
    Scheme { scheme: String },
    #[error("the URL names no host")]
    NoHost,
    #[error("{name} names this machine (taken only when Switchyard itself runs on localhost)")]
    LoopbackName { name: String },
    #[error("{address} is {range}, not a public address")]
    Address { address: IpAddr, range: Range },
    #[error("{name} resolves to {address}, {range}, not a public address")]
    Resolved {
        name: String,
        address: IpAddr,
        range: Range,
    },
}

/// Which destinations, besides public https ones, the server may send
/// requests to. Built once at start-up from the issuer and the
/// configuration's `[outbound] allowed_networks`.
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    /// This machine, over plain http too.
    loopback: bool,
    /// Networks an administrator allowed (an intranet's IdPs), whatever
    /// the registries say of them.
    allowed_networks: Vec<IpNet>,
    /// Exact origins (scheme, address, port) allowed whatever else is
    /// refused: the demo IdP the serving process runs on loopback. Shared
    /// by the clones of one server's client, so that they can be withdrawn
    /// together when that IdP does not start after all.
    origins: std::sync::Arc<std::sync::RwLock<Vec<url::Origin>>>,
}

impl Destinations {
    /// Loopback (and plain http to it) only for a Switchyard that itself runs
    /// on localhost (development, tests, where clients live there too); the
    /// allowed networks in any case.
    #[must_use]
    pub fn new(issuer_is_local: bool, allowed_networks: Vec<IpNet>) -> Self {
        Destinations {
            loopback: issuer_is_local,
            allowed_networks,
            origins: Default::default(),
        }
    }

    /// These destinations and `origins` too, exactly: their scheme, host and
    /// port (an address literal, which is connected to without resolving).
    #[must_use]
    pub fn with_origins(mut self, origins: Vec<url::Origin>) -> Self {
        self.origins = std::sync::Arc::new(std::sync::RwLock::new(origins));
        self
    }

    /// No longer admits the origins of [`with_origins`](Self::with_origins),
    /// in every clone.
    pub fn withdraw_origins(&self) {
        match self.origins.write() {
            Ok(mut origins) => origins.clear(),
            Err(poisoned) => poisoned.into_inner().clear(),
        }
    }

    fn admits_origin(&self, origin: &url::Origin) -> bool {
        match self.origins.read() {
            Ok(origins) => origins.contains(origin),
            Err(poisoned) => poisoned.into_inner().contains(origin),
        }
    }

    /// Public https destinations only.
    #[must_use]
    pub fn public_only() -> Self {
        Self::default()
    }

    /// Whether a request may go to `address`.
    pub fn check_address(&self, address: IpAddr) -> Result<(), Refused> {
        let canonical = address.to_canonical();
        if self
            .allowed_networks
            .iter()
            .any(|net| net.contains(&address) || net.contains(&canonical))
        {
            return Ok(());
        }
        match reach(address) {
            Reach::Global => Ok(()),
            Reach::Loopback if self.loopback => Ok(()),
            Reach::Loopback => Err(Refused::Address {
                address,
                range: if canonical.is_ipv4() {
                    LOOPBACK_V4
                } else {
                    LOOPBACK_V6
                },
            }),
            Reach::NonGlobal(range) => Err(Refused::Address { address, range }),
        }
    }

    /// Whether a request may go to `name` once it resolves to `addresses`
    /// (all of them: a name that also resolves to a refused address is
    /// refused, so that which address is tried first cannot matter).
    pub fn check_resolved(
        &self,
        name: &str,
        addresses: impl IntoIterator<Item = IpAddr>,
    ) -> Result<(), Refused> {
        for address in addresses {
            if let Err(Refused::Address { range, .. }) = self.check_address(address) {
                return Err(Refused::Resolved {
                    name: name.to_owned(),
                    address,
                    range,
                });
            }
        }
        Ok(())
    }

    /// Whether a request may go to `host` as far as can be told before
    /// resolving it: an address literal is decided here; a name only if it
    /// means this machine, the others after resolution.
    pub fn check_host(&self, host: &url::Host<&str>) -> Result<(), Refused> {
        match host {
            url::Host::Domain(name) if is_loopback_name(name) && !self.loopback => {
                Err(Refused::LoopbackName {
                    name: (*name).to_owned(),
                })
            }
            url::Host::Domain(_) => Ok(()),
            url::Host::Ipv4(ip) => self.check_address(IpAddr::V4(*ip)),
            url::Host::Ipv6(ip) => self.check_address(IpAddr::V6(*ip)),
        }
    }

    /// Whether `url` may be requested, before resolving its host: https,
    /// or plain http to this machine when loopback is allowed, and
    /// [`check_host`](Self::check_host).
    pub fn check_url(&self, url: &url::Url) -> Result<(), Refused> {
        if self.admits_origin(&url.origin()) {
            return Ok(());
        }
        let host = url.host().ok_or(Refused::NoHost)?;
        match url.scheme() {
            "https" => {}
            "http" if self.loopback && is_loopback(&host) => {}
            scheme => {
                return Err(Refused::Scheme {
                    scheme: scheme.to_owned(),
                });
            }
        }
        self.check_host(&host)
    }
}

#[cfg(test)]
mod tests;
