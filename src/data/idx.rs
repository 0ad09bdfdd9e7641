//! The IDX file format (MNIST, Fashion-MNIST and the built-in digits).
//!
//! Format (big-endian header, then raw bytes): images `magic=2051, count, rows, cols` then
//! `count*rows*cols` u8 pixels, one image after another, each row-major; labels `magic=2049,
//! count` then `count` u8 labels. An image is therefore contiguous in the file, exactly like a
//! column of the features × samples matrix, so conversion is one sequential pass through a
//! 256-entry lookup table with no intermediate buffer per image.

use std::path::Path;

use nalgebra::DMatrix;

use super::{DataError, Split};

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
pub const IMAGE_MAGIC: u32 = 2051;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
pub const LABEL_MAGIC: u32 = 2049;

/// Decoded images: `data` holds `n` columns of `rows*cols` values, column-major.
pub(crate) struct Images {
    /// Number of images.
    pub n: usize,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// Pixels divided by the format's maximum value, in file order.
    pub data: Vec<f32>,
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn check_magic(
    path: &Path,
    bytes: &[u8],
    header: usize,
    expected: u32,
    kind: &'static str,
) -> Result<(), DataError> {
    if bytes.len() >= 4 && be_u32(bytes, 0) != expected {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            found: be_u32(bytes, 0),
            expected,
            kind,
        });
    }
    if bytes.len() < header {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            what: format!("IDX {kind} header"),
            expected: header as u64,
            found: bytes.len() as u64,
        });
    }
    Ok(())
}

/// Checks that `bytes` is exactly `expected` long; `what` explains where the number came from.
pub(crate) fn check_len(
    path: &Path,
    len: usize,
    expected: u64,
    what: impl FnOnce() -> String,
) -> Result<(), DataError> {
    let found = len as u64;
    if found == expected {
        return Ok(());
    }
    let (path, what) = (path.to_path_buf(), what());
    Err(if found < expected {
        DataError::Truncated {
            path,
            what,
            expected,
            found,
        }
    } else {
        DataError::TrailingBytes {
            path,
            what,
            expected,
            found,
        }
    })
}

/// Parses an IDX image file; pixels are divided by `max_value`, and a byte above it is an error
/// (for 0..255 data that can never happen; for the 0..16 digits it catches a wrong file).
pub(crate) fn parse_images(path: &Path, bytes: &[u8], max_value: u8) -> Result<Images, DataError> {
    check_magic(path, bytes, 16, IMAGE_MAGIC, "image")?;
    let (n, rows, cols) = (
        be_u32(bytes, 4) as usize,
        be_u32(bytes, 8) as usize,
        be_u32(bytes, 12) as usize,
    );
    if n == 0 || rows == 0 || cols == 0 {
        let reason = format!("{n} images of {rows}x{cols} pixels (all three must be at least 1)");
        return Err(DataError::BadHeader {
            path: path.to_path_buf(),
            reason,
        });
    }
    let Some(size) = (n as u64)
        .checked_mul(rows as u64)
        .and_then(|p| p.checked_mul(cols as u64))
        .and_then(|p| p.checked_add(16))
    else {
        let reason = format!("{n} images of {rows}x{cols} pixels is more than any file can hold");
        return Err(DataError::BadHeader {
            path: path.to_path_buf(),
            reason,
        });
    };
    check_len(path, bytes.len(), size, || {
        format!("IDX image file ({n} images of {rows}x{cols})")
    })?;
    let body = &bytes[16..];
    let mut lut = [0f32; 256];
    for (i, v) in lut.iter_mut().enumerate() {
        *v = i as f32 / max_value as f32;
    }
    let mut data = Vec::with_capacity(body.len());
    let mut worst = 0u8;
    data.extend(body.iter().map(|&b| {
        worst = worst.max(b);
        lut[b as usize]
    }));
    if worst > max_value {
        let at = body.iter().position(|&b| b > max_value).unwrap_or(0);
        return Err(DataError::PixelOutOfRange {
            path: path.to_path_buf(),
            value: body[at],
            index: at / (rows * cols),
            max: max_value,
        });
    }
    Ok(Images {
        n,
        rows,
        cols,
        data,
    })
}

/// Parses an IDX label file; a label above `max_label` is an error naming its index.
pub(crate) fn parse_labels(path: &Path, bytes: &[u8], max_label: u8) -> Result<Vec<u8>, DataError> {
    check_magic(path, bytes, 8, LABEL_MAGIC, "label")?;
    let n = be_u32(bytes, 4) as usize;
    check_len(path, bytes.len(), 8 + n as u64, || {
        format!("IDX label file ({n} labels)")
    })?;
    let labels = bytes[8..].to_vec();
    check_labels(path, &labels, "label", max_label)?;
    Ok(labels)
}

/// Fails on the first label above `max`.
pub(crate) fn check_labels(
    path: &Path,
    labels: &[u8],
    kind: &'static str,
    max: u8,
) -> Result<(), DataError> {
    match labels.iter().position(|&l| l > max) {
        Some(index) => Err(DataError::LabelOutOfRange {
            path: path.to_path_buf(),
            kind,
            label: labels[index],
            index,
            max,
        }),
        None => Ok(()),
    }
}

/// Builds a split from already decoded image and label bytes, checking the counts agree.
pub(crate) fn pair(
    img_path: &Path,
    img: &[u8],
    lbl_path: &Path,
    lbl: &[u8],
    max_value: u8,
    max_label: u8,
) -> Result<(Split, (usize, usize)), DataError> {
    let images = parse_images(img_path, img, max_value)?;
    let labels = parse_labels(lbl_path, lbl, max_label)?;
    if images.n != labels.len() {
        return Err(DataError::CountMismatch {
            images: img_path.to_path_buf(),
            n_images: images.n,
            labels: lbl_path.to_path_buf(),
            n_labels: labels.len(),
        });
    }
    let x = DMatrix::from_vec(images.rows * images.cols, images.n, images.data);
    Ok((Split { x, labels }, (images.rows, images.cols)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(n: u32, r: u32, c: u32, body: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [IMAGE_MAGIC, n, r, c] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn images_are_columns_scaled_by_max() {
        let b = images(2, 1, 3, &[0, 255, 51, 1, 2, 3]);
        let im = parse_images(Path::new("x"), &b, 255).unwrap();
        assert_eq!((im.n, im.rows, im.cols), (2, 1, 3));
        assert_eq!(
            im.data,
            vec![0.0, 1.0, 0.2, 1.0 / 255.0, 2.0 / 255.0, 3.0 / 255.0]
        );
    }

    #[test]
    fn pixel_above_max_is_reported_with_image_index() {
        let b = images(2, 1, 2, &[16, 0, 3, 17]);
        let e = parse_images(Path::new("d.idx"), &b, 16)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("pixel value 17 in image 1") && e.contains("max allowed 16"),
            "{e}"
        );
    }

    #[test]
    fn short_header_and_zero_dims() {
        let e = parse_images(Path::new("f"), &IMAGE_MAGIC.to_be_bytes(), 255)
            .err()
            .unwrap();
        assert!(e.to_string().contains("expected 16 bytes, found 4"), "{e}");
        let e = parse_images(Path::new("f"), &images(0, 28, 28, &[]), 255)
            .err()
            .unwrap();
        assert!(e.to_string().contains("bad header"), "{e}");
        let huge = images(u32::MAX, u32::MAX, u32::MAX, &[]);
        let e = parse_images(Path::new("f"), &huge, 255).err().unwrap();
        assert!(e.to_string().contains("more than any file can hold"), "{e}");
    }

    #[test]
    fn labels_trailing_bytes() {
        let mut b = LABEL_MAGIC.to_be_bytes().to_vec();
        b.extend_from_slice(&2u32.to_be_bytes());
        b.extend_from_slice(&[1, 2, 3]);
        let e = parse_labels(Path::new("l"), &b, 9)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("should be exactly 10 bytes, found 11"), "{e}");
    }
}
