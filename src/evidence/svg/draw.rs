//! The timeline's markup, written from its layout. Every text from evidence is escaped
//! (`sanitize::markup`): the SVG is inlined into the HTML report.

use super::layout::{
    LANE_BASELINE, LabelBox, LegendItem, Line, PlacedMark, SWATCH, TICK_BASELINE, Timeline,
};
use super::marks::MarkStyle;
use super::series::Series;
use super::{EDGE, FONT_SIZE};
use crate::sanitize::markup as escape;

/// The stroke attributes of a series, shared by its line and its legend swatch.
fn stroke(series: &Series) -> String {
    let dash = series
        .dash
        .map(|dash| format!(" stroke-dasharray=\"{dash}\""))
        .unwrap_or_default();
    format!(
        "stroke=\"{}\" stroke-width=\"{}\" stroke-opacity=\"{}\"{dash}",
        series.colour, series.width, series.opacity
    )
}

/// The root element: a fixed size for the file on its own, scaled down to the page
/// when inlined (`max-width:100%`).
fn open(timeline: &Timeline) -> String {
    let (w, h) = (timeline.width, timeline.height);
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" style=\"max-width:100%;height:auto\" font-family=\"monospace\" font-size=\"{FONT_SIZE}\" role=\"img\">\n\
         <title>{title}</title>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n\
         <text x=\"{EDGE}\" y=\"{}\" font-size=\"13\">{title}</text>\n",
        timeline.title_baseline(),
        title = escape(&timeline.title),
    )
}

fn legend_item(item: &LegendItem) -> String {
    let y = (item.rect.y0 + item.rect.y1) / 2.0;
    format!(
        "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" {}/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
        item.rect.x0,
        item.rect.x0 + SWATCH,
        stroke(item.series),
        item.rect.x0 + SWATCH + 6.0,
        y + 4.0,
        item.series.name
    )
}

/// The counter axis (0 and the highest value) and the time axis with its ticks.
fn axes(timeline: &Timeline) -> String {
    let plot = &timeline.plot;
    let mut out = format!(
        "<line x1=\"{x0}\" y1=\"{y1}\" x2=\"{x1}\" y2=\"{y1}\" stroke=\"#888\"/>\n\
         <line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x0}\" y2=\"{y1}\" stroke=\"#888\"/>\n\
         <line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\" stroke=\"#e5e7eb\"/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n<text x=\"{}\" y=\"{y1}\" text-anchor=\"end\">0</text>\n",
        plot.x0 - 6.0,
        plot.y0 + 4.0,
        timeline.highest,
        plot.x0 - 6.0,
        x0 = plot.x0,
        x1 = plot.x1,
        y0 = plot.y0,
        y1 = plot.y1,
    );
    for tick in &timeline.ticks {
        out.push_str(&format!(
            "<line x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#888\"/><text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#4b5563\">{}</text>\n",
            plot.y1,
            plot.y1 + 4.0,
            plot.y1 + TICK_BASELINE,
            escape(&tick.label),
            x = tick.x,
        ));
    }
    out
}

fn line(line: &Line) -> String {
    let points: Vec<String> = line
        .points
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect();
    format!(
        "<polyline data-series=\"{}\" fill=\"none\" stroke-linejoin=\"round\" {} points=\"{}\"/>\n",
        line.series.name,
        stroke(line.series),
        points.join(" ")
    )
}

/// A mark's line across the plot (or its dot on the axis).
fn mark_figure(timeline: &Timeline, mark: &PlacedMark) -> String {
    let (x, colour, plot) = (mark.x, mark.colour, &timeline.plot);
    match mark.style {
        MarkStyle::Moment => format!(
            "<circle cx=\"{x:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{colour}\"/>\n",
            plot.y1
        ),
        MarkStyle::Marker => format!(
            "<line x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"{colour}\"/>\n",
            plot.y0, plot.y1
        ),
        MarkStyle::Event => format!(
            "<line x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"{colour}\" stroke-dasharray=\"3,3\"/>\n",
            plot.y0, plot.y1
        ),
    }
}

fn label(label: &LabelBox, colour: &str) -> String {
    let (x, anchor) = if label.end_anchored {
        (label.rect.x1, " text-anchor=\"end\"")
    } else {
        (label.rect.x0, "")
    };
    format!(
        "<text x=\"{x:.1}\" y=\"{:.1}\" fill=\"{colour}\"{anchor}>{}</text>\n",
        label.rect.y0 + LANE_BASELINE,
        escape(&label.text)
    )
}

fn footnote(timeline: &Timeline) -> String {
    if timeline.left_out == 0 {
        return String::new();
    }
    format!(
        "<text x=\"{}\" y=\"{}\" fill=\"#6b7280\" text-anchor=\"end\">+{} more marks (report.md lists every event)</text>\n",
        timeline.width - EDGE,
        timeline.height - 10.0,
        timeline.left_out
    )
}

pub fn svg(timeline: &Timeline) -> String {
    let mut out = open(timeline);
    out.extend(timeline.legend.iter().map(legend_item));
    out.push_str(&axes(timeline));
    // Marks' lines under the counters, the axis' dots and every label over them.
    let (dots, lines): (Vec<&PlacedMark>, Vec<&PlacedMark>) = timeline
        .marks
        .iter()
        .partition(|mark| mark.style == MarkStyle::Moment);
    out.extend(lines.iter().map(|mark| mark_figure(timeline, mark)));
    out.extend(timeline.lines.iter().map(line));
    out.extend(dots.iter().map(|mark| mark_figure(timeline, mark)));
    for mark in &timeline.marks {
        if let Some(text) = &mark.label {
            out.push_str(&label(text, mark.colour));
        }
    }
    out.push_str(&footnote(timeline));
    out.push_str("</svg>\n");
    out
}
