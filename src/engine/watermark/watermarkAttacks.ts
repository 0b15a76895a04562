// The attacks the watermark is measured against (bench and tests): what publishing pipelines do to a
// figure. Each takes and returns 8-bit RGB, going through real encoders (sharp: libjpeg-turbo, libwebp).
import sharp, { type Sharp } from 'sharp';
import type { RGBImage } from '../image/rgbImage';

export type WatermarkAttack = (image: RGBImage) => Promise<RGBImage>;

function input(image: RGBImage): Sharp {
  return sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.length), { raw: { width: image.width, height: image.height, channels: 3 } });
}

async function decode(pipeline: Sharp): Promise<RGBImage> {
  const { data, info } = await pipeline.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

async function reencode(image: RGBImage, encode: (s: Sharp) => Sharp): Promise<RGBImage> {
  return decode(sharp(await encode(input(image)).toBuffer()));
}

/** The attacks by name, in the order the bench table prints them. */
export const WATERMARK_ATTACKS: Readonly<Record<string, WatermarkAttack>> = {
  none: async (image) => image,
  'jpeg q90': (image) => reencode(image, (s) => s.jpeg({ quality: 90 })),
  'jpeg q75': (image) => reencode(image, (s) => s.jpeg({ quality: 75 })),
  'jpeg q50': (image) => reencode(image, (s) => s.jpeg({ quality: 50 })),
  'downscale 50%': (image) => decode(input(image).resize(Math.max(1, Math.round(image.width / 2)), Math.max(1, Math.round(image.height / 2)), { kernel: 'lanczos3' })),
  // 10% of each side removed, off-centre, so the tile grid does not stay aligned.
  'crop 10%': (image) => {
    const left = Math.round(image.width * 0.07);
    const top = Math.round(image.height * 0.03);
    return decode(input(image).extract({ left, top, width: Math.round(image.width * 0.9), height: Math.round(image.height * 0.9) }));
  },
  'png→webp': (image) => reencode(image, (s) => s.webp()),
  // A screenshot-like path: RGBA with premultiplied alpha through a PNG in sRGB, back to 8-bit RGB.
  '8-bit rgb round trip': (image) => reencode(image, (s) => s.ensureAlpha().toColourspace('srgb').png()),
};
