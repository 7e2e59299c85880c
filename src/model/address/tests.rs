use super::*;

/// `address` → where it leads: `global`, `loopback`, or a fragment of the
/// name of the non-global range it is in.
const IPV4: &[(&str, &str)] = &[
    ("0.0.0.0", "this network"),
    ("0.1.2.3", "this network"),
    ("10.0.0.1", "private-use"),
    ("10.255.255.255", "private-use"),
    ("100.64.0.1", "shared address space"),
    ("100.127.255.254", "shared address space"),
    ("100.63.255.255", "global"),
    ("100.128.0.0", "global"),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("169.254.169.254", "link-local"),
    ("172.16.0.1", "private-use"),
    ("172.31.255.255", "private-use"),
    ("172.15.255.255", "global"),
    ("172.32.0.0", "global"),
    ("192.0.0.1", "IETF protocol assignments"),
    ("192.0.0.8", "IETF protocol assignments"),
    ("192.0.0.170", "IETF protocol assignments"),
    ("192.0.0.9", "global"),
    ("192.0.0.10", "global"),
    ("192.0.2.1", "documentation"),
    ("192.88.99.1", "6to4 relay anycast"),
    ("192.168.1.1", "private-use"),
    ("198.18.0.1", "benchmarking"),
    ("198.19.255.255", "benchmarking"),
    ("198.20.0.0", "global"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.7", "documentation"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "limited broadcast"),
    ("1.1.1.1", "global"),
    ("8.8.8.8", "global"),
    ("93.184.216.34", "global"),
    ("223.255.255.255", "global"),
];

const IPV6: &[(&str, &str)] = &[
    ("::", "unspecified"),
    ("::1", "loopback"),
    // IPv4-mapped: the IPv4 address itself.
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private-use"),
    ("::ffff:169.254.169.254", "link-local"),
    ("::ffff:8.8.8.8", "global"),
    // IPv4-compatible (deprecated): never loopback, global only when the
    // embedded address is.
    ("::127.0.0.1", "IPv4-compatible"),
    ("::10.0.0.1", "IPv4-compatible"),
    ("::0.0.0.2", "IPv4-compatible"),
    ("::8.8.8.8", "global"),
    // IPv4-translated (SIIT): decided on the embedded address.
    ("::ffff:0:127.0.0.1", "IPv4-translated"),
    ("::ffff:0:10.0.0.1", "IPv4-translated"),
    ("::ffff:0:8.8.8.8", "global"),
    // NAT64, well-known prefix: decided on the embedded address.
    ("64:ff9b::127.0.0.1", "NAT64"),
    ("64:ff9b::a9fe:a9fe", "NAT64"),
    ("64:ff9b::100.64.0.1", "NAT64"),
    ("64:ff9b::8.8.8.8", "global"),
    // NAT64, local-use prefix: never global.
    ("64:ff9b:1::8.8.8.8", "local-use IPv4/IPv6 translation"),
    ("64:ff9b:1:ffff::1", "local-use IPv4/IPv6 translation"),
    // 6to4: the IPv4 address in bits 16–47.
    ("2002:7f00:1::", "6to4"),
    ("2002:a00:1::1", "6to4"),
    ("2002:c0a8:101::1", "6to4"),
    ("2002:a9fe:a9fe::", "6to4"),
    ("2002:808:808::1", "global"),
    // Teredo: the client's address, inverted, in the last 32 bits.
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo"), // client 127.0.0.1
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "Teredo"), // client 10.0.0.1
    ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "global"), // client 8.8.8.8
    ("100::1", "discard-only"),
    ("100:0:0:1::1", "dummy prefix"),
    ("2001:2::1", "benchmarking"),
    ("2001:10::1", "ORCHID"),
    ("2001:1ff::1", "IETF protocol assignments"),
    ("2001:1::1", "global"),
    ("2001:1::2", "global"),
    ("2001:1::4", "IETF protocol assignments"),
    ("2001:3::1", "global"),
    ("2001:4:112::1", "global"),
    ("2001:20::1", "global"),
    ("2001:30::1", "global"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("3fff:fff::1", "documentation"),
    ("5f00::1", "segment routing"),
    ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"),
    ("fe80::1", "link-local"),
    ("febf::1", "link-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),
    ("2001:200::1", "global"),
    ("2606:4700:4700::1111", "global"),
    ("2a00:1450:4001::1", "global"),
];

fn described(reach: Reach) -> &'static str {
    match reach {
        Reach::Global => "global",
        Reach::Loopback => "loopback",
        Reach::NonGlobal(range) => range.name,
    }
}

#[test]
fn every_special_range_is_classified_by_the_registries() {
    for &(address, expected) in IPV4.iter().chain(IPV6) {
        let ip: IpAddr = address.parse().unwrap();
        let found = described(reach(ip));
        assert!(
            found.contains(expected) && (expected != "global" || found == "global"),
            "{address}: expected {expected}, found {found}"
        );
    }
}

#[test]
fn only_global_addresses_are_destinations_by_default() {
    let public = Destinations::public_only();
    for &(address, expected) in IPV4.iter().chain(IPV6) {
        let ip: IpAddr = address.parse().unwrap();
        assert_eq!(
            public.check_address(ip).is_ok(),
            expected == "global",
            "{address}"
        );
    }
}

#[test]
fn a_local_issuer_adds_loopback_and_nothing_else() {
    let local = Destinations::new(true, vec![]);
    for &(address, expected) in IPV4.iter().chain(IPV6) {
        let ip: IpAddr = address.parse().unwrap();
        assert_eq!(
            local.check_address(ip).is_ok(),
            matches!(expected, "global" | "loopback"),
            "{address}"
        );
    }
}

#[test]
fn allowed_networks_add_exactly_themselves() {
    let intranet = Destinations::new(
        false,
        vec![
            "10.20.0.0/16".parse().unwrap(),
            "fd00:1::/32".parse().unwrap(),
        ],
    );
    for (address, allowed) in [
        ("10.20.1.2", true),
        ("::ffff:10.20.1.2", true),
        ("fd00:1:2::3", true),
        ("10.21.0.1", false),
        ("fd00:2::1", false),
        ("127.0.0.1", false),
        ("::1", false),
        ("169.254.169.254", false),
        ("8.8.8.8", true),
    ] {
        let ip: IpAddr = address.parse().unwrap();
        assert_eq!(intranet.check_address(ip).is_ok(), allowed, "{address}");
    }
    // Loopback only by an explicit entry.
    let loopback = Destinations::new(false, vec!["127.0.0.0/8".parse().unwrap()]);
    assert!(loopback.check_address("127.0.0.1".parse().unwrap()).is_ok());
    assert!(loopback.check_address("::1".parse().unwrap()).is_err());
}

#[test]
fn a_name_is_refused_when_any_of_its_addresses_is() {
    let public = Destinations::public_only();
    let ips = |list: &[&str]| -> Vec<IpAddr> { list.iter().map(|a| a.parse().unwrap()).collect() };
    assert!(
        public
            .check_resolved(
                "idp.example.com",
                ips(&["93.184.216.34", "2606:2800:220:1::1"])
            )
            .is_ok()
    );
    assert_eq!(
        public.check_resolved("rebind.test", ips(&["93.184.216.34", "127.0.0.1"])),
        Err(Refused::Resolved {
            name: "rebind.test".into(),
            address: "127.0.0.1".parse().unwrap(),
            range: LOOPBACK_V4,
        })
    );
    assert!(
        public
            .check_resolved("metadata.test", ips(&["::ffff:169.254.169.254"]))
            .is_err()
    );
}

#[test]
fn loopback_names_in_every_spelling() {
    for name in [
        "localhost",
        "localhost.",
        "LocalHost",
        "LOCALHOST.",
        "app.localhost",
        "a.b.localhost.",
        "localhost.localdomain",
        "localhost.localdomain.",
        "localhost6",
        "ip6-localhost",
        "ip6-loopback",
    ] {
        assert!(is_loopback_name(name), "{name}");
    }
    for name in [
        "localhost.example.com",
        "notlocalhost",
        "mylocalhost",
        "localhost..",
        "example.com",
        "rebind.test",
    ] {
        assert!(!is_loopback_name(name), "{name}");
    }
}

#[test]
fn urls_are_checked_before_resolving() {
    let public = Destinations::public_only();
    let local = Destinations::new(true, vec![]);
    let url = |u: &str| url::Url::parse(u).unwrap();
    for u in [
        "https://localhost/bcl",
        "https://localhost./bcl",
        "https://LOCALHOST.localdomain/bcl",
        "https://app.localhost/bcl",
        "https://127.0.0.1/bcl",
        "https://127.1/bcl",
        "https://0x7f000001/bcl",
        "https://0/bcl",
        "https://[::1]/bcl",
        "https://[::127.0.0.1]/bcl",
        "https://[::ffff:127.0.0.1]/bcl",
        "https://[64:ff9b::a9fe:a9fe]/latest",
        "https://[2002:a9fe:a9fe::]/latest",
        "https://100.100.100.200/latest",
        "https://198.18.0.1/bcl",
        "https://255.255.255.255/bcl",
        "https://224.0.0.1/bcl",
        "https://[fe80::1]/bcl",
        "https://[ff02::1]/bcl",
        "http://app.example.com/bcl",
        "ftp://app.example.com/bcl",
    ] {
        assert!(public.check_url(&url(u)).is_err(), "{u}");
    }
    for u in ["https://app.example.com/bcl", "https://8.8.8.8/bcl"] {
        assert!(public.check_url(&url(u)).is_ok(), "{u}");
    }
    // On a local issuer: loopback, over http too; nothing else over http.
    for u in [
        "http://localhost:3000/bcl",
        "http://localhost.:3000/bcl",
        "http://127.0.0.1:3000/bcl",
        "http://[::1]:3000/bcl",
        "https://app.example.com/bcl",
    ] {
        assert!(local.check_url(&url(u)).is_ok(), "{u}");
    }
    for u in [
        "http://app.example.com/bcl",
        "https://10.0.0.1/bcl",
        "https://[::127.0.0.1]/bcl",
        "https://0.0.0.0/bcl",
    ] {
        assert!(local.check_url(&url(u)).is_err(), "{u}");
    }
}

/// The demo IdP's origin is admitted exactly: not its host's other ports,
/// not another scheme, not the same port by another name.
#[test]
fn an_admitted_origin_is_admitted_exactly() {
    let url = |u: &str| url::Url::parse(u).unwrap();
    let demo = url("http://127.0.0.1:8444/");
    let destinations = Destinations::new(false, vec![]).with_origins(vec![demo.origin()]);
    for admitted in [
        "http://127.0.0.1:8444/.well-known/openid-configuration",
        "http://127.0.0.1:8444/oauth/token",
    ] {
        assert_eq!(destinations.check_url(&url(admitted)), Ok(()), "{admitted}");
    }
    for refused in [
        "http://127.0.0.1:8445/",
        "http://127.0.0.1/",
        "https://127.0.0.1:8444/",
        "http://localhost:8444/",
        "http://127.0.0.2:8444/",
    ] {
        assert!(destinations.check_url(&url(refused)).is_err(), "{refused}");
    }
    assert!(
        destinations
            .check_address("127.0.0.1".parse().unwrap())
            .is_err(),
        "an address alone is not an origin"
    );
}

/// A demo IdP that does not start after all is no longer reached: its
/// withdrawn origin is refused by every clone of the server's destinations.
#[test]
fn a_withdrawn_origin_is_refused_in_every_clone() {
    let url = url::Url::parse("http://127.0.0.1:8444/.well-known/openid-configuration").unwrap();
    let destinations = Destinations::new(false, vec![]).with_origins(vec![url.origin()]);
    let clone = destinations.clone();
    assert_eq!(clone.check_url(&url), Ok(()));
    destinations.withdraw_origins();
    assert!(destinations.check_url(&url).is_err());
    assert!(clone.check_url(&url).is_err());
}
