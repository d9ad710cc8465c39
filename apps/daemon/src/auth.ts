import { createHash, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, UsbScsiError } from '@usbscsi/core';

/**
 * Bearer-token check for the TCP listener. Both sides are hashed first so
 * the comparison is constant-time whatever the presented token's length.
 */
export function makeTokenCheck(token: string): (authorization: string | undefined) => UsbScsiError | undefined {
  const expected = createHash('sha256').update(token).digest();
  return (authorization) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) {
      return new UsbScsiError(ErrorCodes.PERMISSION, 'this listener requires "Authorization: Bearer <token>" (the token is in the daemon\'s --token-file)', {
        details: { reason: 'token-missing' },
      });
    }
    const presented = createHash('sha256').update(match[1]!).digest();
    if (!timingSafeEqual(presented, expected)) {
      return new UsbScsiError(ErrorCodes.PERMISSION, 'the bearer token is wrong; use the one in the daemon\'s --token-file', {
        details: { reason: 'token-invalid' },
      });
    }
    return undefined;
  };
}

/** Reads a token file: first line, trimmed; refuses an empty or short token. */
export function parseTokenFile(text: string, path: string): string {
  const token = text.split(/\r?\n/)[0]?.trim() ?? '';
  if (token.length < 16)
    throw new UsbScsiError(ErrorCodes.BAD_INPUT, `the token in ${path} is shorter than 16 characters; write a long random one (e.g. openssl rand -hex 32 > ${path})`);
  return token;
}
