//! The UDP payloads of a classic little-endian Ethernet pcap (the fixtures'
//! format), to replay a real exporter's capture at a collector.

/// Every UDP payload in the capture, in order (IPv4 and IPv6).
pub fn udp_payloads(pcap: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    assert_eq!(
        &pcap[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "a little-endian classic pcap"
    );
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let incl =
            u32::from_le_bytes([pcap[at + 8], pcap[at + 9], pcap[at + 10], pcap[at + 11]]) as usize;
        let frame = &pcap[at + 16..(at + 16 + incl).min(pcap.len())];
        at += 16 + incl;
        if frame.len() < 14 {
            continue;
        }
        let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        let ip = &frame[14..];
        let (proto, l4) = match ethertype {
            0x0800 if ip.len() >= 20 => (ip[9], &ip[((ip[0] & 0x0f) as usize * 4).min(ip.len())..]),
            0x86dd if ip.len() >= 40 => (ip[6], &ip[40..]),
            _ => continue,
        };
        if proto == 17 && l4.len() >= 8 {
            out.push(l4[8..].to_vec());
        }
    }
    out
}
