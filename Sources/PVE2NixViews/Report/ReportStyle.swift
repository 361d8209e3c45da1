/// The report's stylesheet. Colours from the Okabe–Ito palette, which stays distinct with the
/// common colour-vision deficiencies; every colour comes with a word, a mark or a pattern too.
enum ReportStyle {
    static let css = """
    :root { --ink:#1b1b1b; --muted:#555; --line:#c8c8c8; --bg:#fff; --panel:#f6f6f4;
      --destroyed:#d55e00; --destroyed-bg:#fbe3d3; --kept:#009e73; --kept-bg:#d5f0e6;
      --changed:#e69f00; --changed-bg:#fdf0d2; --added:#0072b2; --added-bg:#d6e8f5; --removed:#6b6b6b; --removed-bg:#ececec; }
    * { box-sizing: border-box; }
    body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--ink); background: var(--bg); }
    header, main, footer { max-width: 1400px; margin: 0 auto; padding: 0 20px; }
    h1 { font-size: 1.6rem; margin: 18px 0 8px; }
    h2 { font-size: 1.3rem; border-bottom: 2px solid var(--ink); padding-bottom: 3px; margin-top: 34px; }
    h3 { font-size: 1.08rem; margin-top: 22px; }
    code, .hash { font-family: "DejaVu Sans Mono", ui-monospace, Menlo, Consolas, monospace; font-size: .9em; }
    .hash { font-size: 1.15em; font-weight: 700; }
    dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; padding: 10px 14px; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; }
    dl.meta dt { font-weight: 600; color: var(--muted); }
    dl.meta dd { margin: 0; }
    nav ul { list-style: none; padding: 0; margin: 12px 0; display: flex; flex-wrap: wrap; gap: 6px; }
    nav a { display: inline-block; padding: 3px 10px; border: 1px solid var(--line); border-radius: 14px; text-decoration: none; color: var(--ink); }
    nav a:hover, nav a:focus { background: var(--panel); outline: 2px solid var(--added); }
    table { border-collapse: collapse; width: 100%; margin: 10px 0 14px; font-size: .92rem; }
    caption { text-align: left; font-weight: 600; padding: 4px 0; }
    th, td { border: 1px solid var(--line); padding: 4px 7px; text-align: left; vertical-align: top; overflow-wrap: break-word; }
    td code { overflow-wrap: anywhere; }
    td .nw, th { white-space: nowrap; overflow-wrap: normal; }
    th { background: var(--panel); }
    tr.destroyed-row td:first-child, tr.fail-row td:first-child { border-left: 5px solid var(--destroyed); }
    tr.wipe-row td { border-top: 3px double var(--destroyed); }
    .badge { display: inline-block; padding: 0 6px; border-radius: 4px; font-weight: 700; font-size: .85em; white-space: nowrap; border: 1px solid; }
    .badge.destroyed, .badge.fail, .badge.sev-blocks { color: #8a3300; background: var(--destroyed-bg); border-color: var(--destroyed); }
    .badge.kept, .badge.pass { color: #00614a; background: var(--kept-bg); border-color: var(--kept); }
    .badge.warn, .badge.changed, .badge.sev-action { color: #6b4a00; background: var(--changed-bg); border-color: var(--changed); border-style: dashed; }
    .badge.added, .badge.info, .badge.sev-note, .badge.mgmt { color: #00476f; background: var(--added-bg); border-color: var(--added); }
    .badge.removed { color: #333; background: var(--removed-bg); border-color: var(--removed); text-decoration: line-through; }
    .destroyed-text, .fail-text { color: #a33f00; }
    .kept-text { color: #00684f; }
    .legend { font-size: .9rem; color: var(--muted); }
    .key { display: inline-block; width: 22px; height: 11px; vertical-align: middle; border: 1px solid var(--ink); margin-left: 8px; }
    .key.est { background: var(--added-bg); border-color: var(--added); }
    .key.down { background: repeating-linear-gradient(45deg, var(--changed-bg) 0 3px, var(--changed) 3px 5px); }
    .key.actual { background: var(--ink); height: 5px; }
    .key.mem-before { background: #56b4e9; } .key.mem-after { background: var(--changed); } .key.mem-total { background: #eee; }
    .key.mem-limit { width: 3px; background: var(--destroyed); border: 0; }
    .sides { display: grid; grid-template-columns: minmax(0, 1fr); gap: 14px; align-items: start; }
    figure.side { margin: 0; padding: 8px; border: 1px solid var(--line); border-radius: 6px; background: #fcfcfb; overflow-x: auto; }
    figcaption { font-weight: 700; margin-bottom: 6px; }
    svg { max-width: 100%; height: auto; font: 12px "DejaVu Sans Mono", ui-monospace, Menlo, Consolas, monospace; }
    svg text { fill: var(--ink); }
    svg text.name { font-weight: 700; }
    svg text.note, svg text.tick { fill: var(--muted); }
    svg text.chg { fill: #7a5200; font-weight: 700; }
    svg text.mgmt { fill: var(--added); font-weight: 700; }
    svg text.destroyed-text { fill: #a33f00; font-weight: 700; } svg text.kept-text { fill: #00684f; font-weight: 700; }
    .net .dev rect { fill: #fff; stroke: var(--ink); stroke-width: 1.2; }
    .net .dev.nic rect { fill: #f1f1ee; }
    .net .dev.changed rect { fill: var(--changed-bg); stroke: var(--changed); stroke-width: 2.5; stroke-dasharray: 7 3; }
    .net .dev.added rect { fill: var(--added-bg); stroke: var(--added); stroke-width: 2.5; }
    .net .dev.removed rect { fill: var(--removed-bg); stroke: var(--removed); stroke-dasharray: 2 3; }
    .net .guests rect { fill: #fafafa; stroke: var(--muted); stroke-dasharray: 4 2; }
    .net .edge { fill: none; stroke: #777; stroke-width: 1.5; }
    .net .guest-edge { stroke-dasharray: 4 3; }
    .disks .destroyed .seg { fill: url(#hatch); stroke: var(--destroyed); stroke-width: 1.5; }
    .disks .kept .seg { fill: var(--kept-bg); stroke: var(--kept); stroke-width: 1.5; }
    .disks .hatch-bg { fill: var(--destroyed-bg); } .disks .hatch-line { stroke: var(--destroyed); stroke-width: 3; opacity: .55; }
    .disks .seg-label { font-size: 11px; }
    .disks .group .span { stroke-width: 4; } .disks .group .tick { stroke-width: 1; stroke-dasharray: 3 2; }
    .disks .group.destroyed line, .disks .group.destroyed circle { stroke: var(--destroyed); fill: var(--destroyed); }
    .disks .group.kept line, .disks .group.kept circle { stroke: var(--kept); fill: var(--kept); }
    .timeline .grid { stroke: #e2e2e2; }
    .timeline .bar { fill: var(--added-bg); stroke: var(--added); }
    .timeline .bar.down { fill: url(#down); stroke: var(--changed); }
    .timeline .down-bg { fill: var(--changed-bg); } .timeline .down-line { stroke: var(--changed); stroke-width: 2.5; }
    .timeline .actual { fill: var(--ink); } .timeline .actual.failed { fill: var(--destroyed); }
    .timeline .bar-label { font-size: 11px; }
    .peers .mem-total { fill: #eee; stroke: #999; } .peers .mem-after { fill: var(--changed); } .peers .mem-before { fill: #56b4e9; }
    .peers .mem-limit { stroke: var(--destroyed); stroke-width: 3; }
    ul.destroys { columns: 2; font-size: .9rem; }
    details summary { cursor: pointer; font-weight: 600; margin: 8px 0; }
    footer { color: var(--muted); font-size: .85rem; margin: 30px auto 20px; }
    .empty { color: var(--muted); font-style: italic; }
    /* Side by side where both diagrams fit at full size; one above the other otherwise, never shrunk to illegible. */
    @media (min-width: 1700px) { header, main, footer { max-width: 2400px; } .sides { grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); } }
    @media print {
      body { font-size: 10.5pt; }
      header, main, footer { max-width: none; padding: 0; }
      nav { display: none; }
      .sides { grid-template-columns: 1fr; }
      figure.side { overflow: visible; border: 0; }
      section { break-inside: auto; }
      h2 { break-after: avoid; } tr, svg, figure { break-inside: avoid; }
      details > * { display: block; }
      a { color: inherit; text-decoration: none; }
      * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
    }
    """
}
