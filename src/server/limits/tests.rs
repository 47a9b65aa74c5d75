use super::*;

#[test]
fn max_cons_admits_exactly_n() {
    let l = ConnLimits::new(2, 0);
    let ip: IpAddr = "127.0.0.1".parse().unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let a = l.acquire(ip).ok();
    let b = l.acquire(ip).ok();
    assert!(a.is_some() && b.is_some());
    assert_eq!(l.acquire(ip).err(), Some(false));
    drop(a);
    assert!(l.acquire(ip).is_ok());
}

#[test]
fn per_ip_limit_counts_mapped_addresses_as_one() {
    let l = ConnLimits::new(0, 1);
    let v4 = IpAddr::from([127, 0, 0, 1]);
    let mapped: IpAddr = std::net::Ipv4Addr::new(127, 0, 0, 1)
        .to_ipv6_mapped()
        .into();
    let _a = l.acquire(v4).ok();
    assert_eq!(l.acquire(mapped).err(), Some(true));
    let b = l.acquire(IpAddr::from([127, 0, 0, 2]));
    assert!(b.is_ok());
    assert_eq!(l.total(), 2);
}
