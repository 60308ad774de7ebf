//! The organisation's own documents as PDF, laid out with krilla and set in DejaVu Sans (embedded,
//! open-licensed), with text a PDF reader can select and extract. Each document is an askama
//! template of elements (`*.layout`); this file sets them under the brand's band.

use std::sync::LazyLock;

use krilla::{
    Document,
    color::rgb,
    geom::{PathBuilder, Point, Rect, Size, Transform},
    image::Image,
    metadata::Metadata,
    num::NormalizedF32,
    page::PageSettings,
    paint::Fill,
    text::{Font, TextDirection},
};

use crate::config::{Brand, LogoFormat, Paper};

static REGULAR: LazyLock<Font> =
    LazyLock::new(|| Font::new(dejavu::sans::regular().into(), 0).expect("DejaVu Sans is a valid font"));
static BOLD: LazyLock<Font> =
    LazyLock::new(|| Font::new(dejavu::sans::bold().into(), 0).expect("DejaVu Sans Bold is a valid font"));

const MARGIN: f32 = 48.0;
const TEXT: Rgb = (0x1f, 0x29, 0x37);
const MUTED: Rgb = (0x4b, 0x55, 0x63);

/// Lays out a document's `content` (one element a line, as the `.layout` templates write it)
/// under the brand's band, as a one-page PDF titled `title`.
pub(super) fn lay_out(brand: &Brand, title: String, content: &str) -> Result<Vec<u8>, String> {
    let (width, height) = match brand.paper {
        Paper::A4 => (595.0, 842.0),
        Paper::Letter => (612.0, 792.0),
    };
    let mut document = Document::new();
    document.set_metadata(Metadata::new().title(title).creator(brand.name.clone()).producer("Remit".to_owned()));
    let mut page = document.start_page_with(PageSettings::from_wh(width, height).ok_or("page size")?);
    let mut surface = page.surface();

    // The brand's band across the top, its name in the colour that reads best on it.
    let [r, g, b] = brand.primary_color.rgb();
    surface.set_fill(Some(fill((r, g, b))));
    let mut band = PathBuilder::new();
    band.push_rect(Rect::from_xywh(0.0, 0.0, width, 96.0).ok_or("band")?);
    surface.draw_path(&band.finish().ok_or("band path")?);
    let on_band = if brand.primary_color.best_text() == "#ffffff" { (255, 255, 255) } else { (0x11, 0x18, 0x27) };
    let name_x = draw_logo(&mut surface, brand)?;
    text(&mut surface, name_x, 58.0, &BOLD, 24.0, on_band, &brand.name);

    let mut y = 150.0;
    let mut footer_y = height - 72.0;
    for line in content.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.splitn(3, '|');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("title"), Some(title), None) => text(&mut surface, MARGIN, y, &BOLD, 28.0, TEXT, title),
            (Some("subtitle"), Some(subtitle), None) => {
                y += 22.0;
                text(&mut surface, MARGIN, y, &REGULAR, 11.0, MUTED, subtitle);
                y += 48.0;
            }
            (Some(kind @ ("row" | "total")), Some(label), Some(value)) => {
                text(&mut surface, MARGIN, y, &REGULAR, 10.0, MUTED, label);
                let (font, size) = if kind == "total" { (&*BOLD, 14.0) } else { (&*REGULAR, 11.0) };
                text(&mut surface, MARGIN + 140.0, y, font, size, TEXT, value);
                y += 26.0;
            }
            (Some("footer"), Some(footer), None) => {
                text(&mut surface, MARGIN, footer_y, &REGULAR, 9.5, MUTED, footer);
                footer_y += 18.0;
            }
            _ => return Err(format!("document template: cannot lay out {line:?}")),
        }
    }
    surface.finish();
    page.finish();
    document.finish().map_err(|e| format!("{e:?}"))
}

/// The brand's logo at the left of the band: its own PNG or JPEG, else Remit's mark (a white tile
/// with the brand's initial). Returns where the brand name starts.
fn draw_logo(surface: &mut krilla::surface::Surface, brand: &Brand) -> Result<f32, String> {
    const SIDE: f32 = 48.0;
    const TOP: f32 = 24.0;
    match &brand.logo {
        Some(logo) => {
            let data: krilla::Data = logo.bytes.clone().into();
            let image = match logo.format {
                LogoFormat::Png => Image::from_png(data, true)?,
                LogoFormat::Jpeg => Image::from_jpeg(data, true)?,
            };
            let (w, h) = image.size();
            let width = SIDE * w as f32 / h.max(1) as f32;
            surface.push_transform(&Transform::from_translate(MARGIN, TOP));
            surface.draw_image(image, Size::from_wh(width, SIDE).ok_or("logo size")?);
            surface.pop();
            Ok(MARGIN + width + 16.0)
        }
        None => {
            surface.set_fill(Some(fill((255, 255, 255))));
            let mut tile = PathBuilder::new();
            tile.push_rect(Rect::from_xywh(MARGIN, TOP, SIDE, SIDE).ok_or("tile")?);
            surface.draw_path(&tile.finish().ok_or("tile path")?);
            let initial: String = brand.name.chars().take(1).collect();
            let [r, g, b] = brand.primary_color.rgb();
            surface.set_fill(Some(fill((r, g, b))));
            // Outlined: the mark is drawing, not text a reader would extract.
            surface.draw_text(
                Point::from_xy(MARGIN + 12.0, TOP + 36.0),
                BOLD.clone(),
                30.0,
                &initial,
                true,
                TextDirection::Auto,
            );
            Ok(MARGIN + SIDE + 16.0)
        }
    }
}

fn fill((r, g, b): Rgb) -> Fill {
    Fill { paint: rgb::Color::new(r, g, b).into(), opacity: NormalizedF32::ONE, rule: Default::default() }
}

type Rgb = (u8, u8, u8);

fn text(surface: &mut krilla::surface::Surface, x: f32, y: f32, font: &Font, size: f32, color: Rgb, content: &str) {
    surface.set_fill(Some(fill(color)));
    surface.draw_text(Point::from_xy(x, y), font.clone(), size, content, false, TextDirection::Auto);
}

/// The brand's contacts as the footer gives them: "help@acme.test · +1 555 0100".
pub(super) fn contact_line(brand: &Brand) -> String {
    let contact: Vec<&str> =
        [brand.support_email.as_deref(), brand.support_phone.as_deref()].into_iter().flatten().collect();
    contact.join(" · ")
}

/// The first line of a value: one line an element, so a line break inside a value would start a
/// new element.
pub(super) fn one_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// "3 January 2027", or a dash when there is no date.
pub(super) fn long_date(date: Option<time::OffsetDateTime>) -> String {
    let format = time::macros::format_description!("[day] [month repr:long] [year]");
    date.and_then(|d| d.format(&format).ok()).unwrap_or_else(|| "—".into())
}
