//! The two pictures, written by hand as SVG (no font or bitmap dependencies).

use std::fmt::Write as _;

use depin_example_common::{format_amount, MapData, Summary, TOKEN_DECIMALS};

/// Escape text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A colour from dark blue (0) through green to yellow (1).
fn ramp(t: f64) -> String {
    let stops = [
        (0.0, (68.0, 1.0, 84.0)),
        (0.25, (59.0, 82.0, 139.0)),
        (0.5, (33.0, 145.0, 140.0)),
        (0.75, (94.0, 201.0, 98.0)),
        (1.0, (253.0, 231.0, 37.0)),
    ];
    let t = t.clamp(0.0, 1.0);
    let mut out = stops[4].1;
    for w in stops.windows(2) {
        let ((t0, c0), (t1, c1)) = (w[0], w[1]);
        if t <= t1 {
            let f = (t - t0) / (t1 - t0);
            out = (
                c0.0 + (c1.0 - c0.0) * f,
                c0.1 + (c1.1 - c0.1) * f,
                c0.2 + (c1.2 - c0.2) * f,
            );
            break;
        }
    }
    format!("rgb({:.0},{:.0},{:.0})", out.0, out.1, out.2)
}

fn tokens(base: u128) -> f64 {
    base as f64 / 10f64.powi(TOKEN_DECIMALS as i32)
}

/// The wireless map: hotspots at their asserted H3 cell centres coloured by reward, kept
/// witness links in grey, rejected ones as red dashed lines (hover for the reason).
/// Hotspots asserting a location far outside the city are drawn where they really are,
/// circled in red.
pub(crate) fn wireless_map(map: &MapData) -> String {
    let (w, h, margin) = (1100.0, 760.0, 60.0);
    let centre = map
        .hotspots
        .iter()
        .map(|p| p.real)
        .fold((0.0, 0.0), |a, p| (a.0 + p.0, a.1 + p.1));
    let n = map.hotspots.len().max(1) as f64;
    let centre = (centre.0 / n, centre.1 / n);
    let km = |a: (f64, f64)| {
        let x = (a.1 - centre.1) * 111.32 * centre.0.to_radians().cos();
        let y = (a.0 - centre.0) * 111.32;
        (x, y)
    };
    // Display position: the asserted cell, unless it is far away (a spoofer).
    let shown: Vec<((f64, f64), bool)> = map
        .hotspots
        .iter()
        .map(|p| {
            let (ax, ay) = km(p.asserted);
            let far = (ax * ax + ay * ay).sqrt() > 40.0;
            (if far { km(p.real) } else { (ax, ay) }, far)
        })
        .collect();
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for ((x, y), _) in &shown {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    let span = ((x1 - x0) / (w - 2.0 * margin)).max((y1 - y0) / (h - 2.0 * margin - 60.0));
    let scale = if span > 0.0 { 1.0 / span } else { 1.0 };
    // centre the drawing in the area below the title
    let pad_x = ((w - 2.0 * margin) - (x1 - x0) * scale).max(0.0) / 2.0;
    let pad_y = ((h - 2.0 * margin - 60.0) - (y1 - y0) * scale).max(0.0) / 2.0;
    let px = |p: (f64, f64)| {
        (
            margin + pad_x + (p.0 - x0) * scale,
            h - margin - pad_y - (p.1 - y0) * scale,
        )
    };
    let max_earned = map
        .hotspots
        .iter()
        .map(|p| p.earned)
        .max()
        .unwrap_or(0)
        .max(1);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif">"##
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#f8f8f4"/>"##);
    let _ = writeln!(
        s,
        r##"<text x="{margin}" y="32" font-size="20">{}</text>"##,
        esc(&map.title)
    );
    // scale bar: 1 km
    let bar = scale;
    let _ = writeln!(
        s,
        r##"<line x1="{margin}" y1="{y}" x2="{x2}" y2="{y}" stroke="#333" stroke-width="3"/><text x="{margin}" y="{ty}" font-size="12">1 km</text>"##,
        y = h - 25.0,
        x2 = margin + bar,
        ty = h - 10.0
    );
    // links: kept first, rejected on top
    for rejected in [false, true] {
        for l in map
            .links
            .iter()
            .filter(|l| l.rejected.is_some() == rejected)
        {
            let (Some(a), Some(b)) = (shown.get(l.beaconer), shown.get(l.witness)) else {
                continue;
            };
            let ((ax, ay), (bx, by)) = (px(a.0), px(b.0));
            match l.rejected {
                None => {
                    let _ = writeln!(
                        s,
                        r##"<line x1="{ax:.1}" y1="{ay:.1}" x2="{bx:.1}" y2="{by:.1}" stroke="#8a9a8a" stroke-opacity="0.5" stroke-width="1"/>"##
                    );
                }
                Some(reason) => {
                    let _ = writeln!(
                        s,
                        r##"<line x1="{ax:.1}" y1="{ay:.1}" x2="{bx:.1}" y2="{by:.1}" stroke="#d62728" stroke-width="1.6" stroke-dasharray="6 4"><title>rejected: {}</title></line>"##,
                        reason.code()
                    );
                }
            }
        }
    }
    for (p, (pos, far)) in map.hotspots.iter().zip(&shown) {
        let (x, y) = px(*pos);
        let fill = if p.earned == 0 {
            "#bbbbbb".to_string()
        } else {
            ramp((p.earned as f64 / max_earned as f64).sqrt())
        };
        let stroke = if p.earned == 0 { "#d62728" } else { "#222" };
        let _ = writeln!(
            s,
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="7" fill="{fill}" stroke="{stroke}" stroke-width="1.5"><title>{} ({}): {}</title></circle>"##,
            esc(&p.label),
            p.role,
            esc(&format_amount(p.earned))
        );
        if *far {
            let _ = writeln!(
                s,
                r##"<circle cx="{x:.1}" cy="{y:.1}" r="12" fill="none" stroke="#d62728" stroke-width="2"/><text x="{tx:.1}" y="{ty:.1}" font-size="11" fill="#d62728">{}: asserts a cell far away</text>"##,
                esc(&p.label),
                tx = x + 14.0,
                ty = y - 10.0
            );
        } else if p.role != "honest" {
            let _ = writeln!(
                s,
                r##"<text x="{tx:.1}" y="{ty:.1}" font-size="10" fill="#555">{}</text>"##,
                p.role,
                tx = x + 9.0,
                ty = y - 8.0
            );
        }
    }
    // legend
    let lx = w - 260.0;
    let _ = writeln!(
        s,
        r##"<rect x="{lx}" y="50" width="240" height="120" fill="white" stroke="#999"/>
<text x="{tx}" y="70" font-size="13">reward earned (low to high)</text>"##,
        tx = lx + 10.0
    );
    for i in 0..10 {
        let _ = writeln!(
            s,
            r##"<rect x="{x}" y="78" width="22" height="12" fill="{}"/>"##,
            ramp(f64::from(i) / 9.0),
            x = lx + 10.0 + f64::from(i) * 22.0
        );
    }
    let _ = writeln!(
        s,
        r##"<circle cx="{cx}" cy="108" r="6" fill="#bbbbbb" stroke="#d62728" stroke-width="1.5"/><text x="{tx}" y="112" font-size="12">earned nothing</text>
<line x1="{l1}" y1="130" x2="{l2}" y2="130" stroke="#8a9a8a" stroke-width="2"/><text x="{tx}" y="134" font-size="12">valid witness</text>
<line x1="{l1}" y1="152" x2="{l2}" y2="152" stroke="#d62728" stroke-width="2" stroke-dasharray="6 4"/><text x="{tx}" y="156" font-size="12">rejected witness</text>"##,
        cx = lx + 20.0,
        tx = lx + 40.0,
        l1 = lx + 10.0,
        l2 = lx + 32.0
    );
    s.push_str("</svg>\n");
    s
}

fn role_colour(role: &str) -> &'static str {
    match role {
        "honest" | "solar" | "charger" => "#1f77b4",
        "dense" | "flaky" | "replayer" => "#7fb3d5",
        _ => "#d62728",
    }
}

/// Payouts per device, sorted, one panel per network; cheaters in red.
pub(crate) fn reward_distribution(summaries: &[Summary]) -> String {
    let (w, panel_h, top) = (1100.0, 230.0, 64.0);
    let h = top + panel_h * summaries.len().max(1) as f64 + 20.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="60" y="28" font-size="20">Reward distribution: total earned per device, sorted</text>
<text x="60" y="48" font-size="13" fill="#444"><tspan fill="#1f77b4">■ honest</tspan>   <tspan fill="#7fb3d5">■ honest but penalised or replaying (hex density, uptime)</tspan>   <tspan fill="#d62728">■ cheating</tspan></text>"##
    );
    for (k, sum) in summaries.iter().enumerate() {
        let y0 = top + panel_h * k as f64;
        let (left, right, ph) = (90.0, w - 30.0, panel_h - 60.0);
        let mut devices: Vec<_> = sum.devices.iter().collect();
        devices.sort_by(|a, b| b.earned.cmp(&a.earned).then(a.label.cmp(&b.label)));
        let max = devices
            .first()
            .map(|d| tokens(d.earned))
            .unwrap_or(0.0)
            .max(1e-9);
        let _ = writeln!(
            s,
            r##"<text x="{left}" y="{ty}" font-size="15" font-weight="bold">{} — {} devices, pool {} over {} epochs, paid exactly: {}</text>
<line x1="{left}" y1="{base}" x2="{right}" y2="{base}" stroke="#333"/>
<line x1="{left}" y1="{base}" x2="{left}" y2="{topy}" stroke="#333"/>
<text x="{lx}" y="{topy2}" font-size="11" text-anchor="end">{max:.0}</text><text x="{lx}" y="{base}" font-size="11" text-anchor="end">0</text>"##,
            esc(&sum.network),
            sum.devices.len(),
            esc(&format_amount(sum.pool_total())),
            sum.epochs.len(),
            if sum.exact() { "yes" } else { "NO" },
            ty = y0 + 22.0,
            base = y0 + 30.0 + ph,
            topy = y0 + 30.0,
            topy2 = y0 + 40.0,
            lx = left - 6.0
        );
        let n = devices.len().max(1) as f64;
        let bw = (right - left) / n;
        for (i, d) in devices.iter().enumerate() {
            let bh = tokens(d.earned) / max * ph;
            let x = left + bw * i as f64 + bw * 0.1;
            let _ = writeln!(
                s,
                r##"<rect x="{x:.1}" y="{y:.1}" width="{bw8:.1}" height="{bh:.1}" fill="{}"><title>{} ({}): {}</title></rect>"##,
                role_colour(d.role),
                esc(&d.label),
                d.role,
                esc(&format_amount(d.earned)),
                y = y0 + 30.0 + ph - bh,
                bw8 = bw * 0.8,
            );
            if d.earned == 0 {
                let _ = writeln!(
                    s,
                    r##"<text x="{tx:.1}" y="{ty:.1}" font-size="9" fill="#d62728" text-anchor="middle">0</text>"##,
                    tx = x + bw * 0.4,
                    ty = y0 + 26.0 + ph
                );
            }
        }
        let _ = writeln!(
            s,
            r##"<text x="{left}" y="{ty}" font-size="11" fill="#555">devices by payout ({max:.2} DPR to the top device)</text>"##,
            ty = y0 + 46.0 + ph
        );
    }
    s.push_str("</svg>\n");
    s
}
