import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, UsbScsiError } from '@usbscsi/core';

/** A secret is kept only as its digest; comparing digests is constant-time whatever the lengths. */
export function digestOf(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

export function matchesDigest(presented: string | undefined, digest: Buffer): boolean {
  return presented !== undefined && timingSafeEqual(digestOf(presented), digest);
}

/** 256 random bits, URL- and header-safe. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Bearer-token check for the TCP listener (constant-time, see {@link digestOf}). */
export function makeTokenCheck(token: string): (authorization: string | undefined) => UsbScsiError | undefined {
  const expected = digestOf(token);
  return (authorization) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) {
      return new UsbScsiError(
        ErrorCodes.PERMISSION,
        'this listener requires "Authorization: Bearer <token>" (the token is in the daemon\'s --token-file)',
        {
          details: { reason: 'token-missing' },
        },
      );
    }
    if (!matchesDigest(match[1], expected)) {
      return new UsbScsiError(
        ErrorCodes.PERMISSION,
        "the bearer token is wrong; use the one in the daemon's --token-file",
        {
          details: { reason: 'token-invalid' },
        },
      );
    }
    return undefined;
  };
}

/** Reads a token file: first line, trimmed; refuses an empty or short token. */
export function parseTokenFile(text: string, path: string): string {
  const token = text.split(/\r?\n/)[0]?.trim() ?? '';
  if (token.length < 16)
    throw new UsbScsiError(
      ErrorCodes.BAD_INPUT,
      `the token in ${path} is shorter than 16 characters; write a long random one (e.g. ` +
        `openssl rand -hex 32 > ${path})`,
    );
  return token;
}
