/** Numbers of the seed wire format (reference §1) and the defaults of its limits. */

/** The header length prefix: 2 bytes, unsigned, little-endian. */
export const PREFIX_BYTES = 2;

/** The largest header text the 2-byte prefix can announce. */
export const MAX_HEADER_BYTES = 0xffff;

/** The content-length key, always the first pair, written by the library and never by the user. */
export const CONTENT_LENGTH_KEY = 'CL';

/** Default largest content a decoder accepts: 64 MiB. */
export const DEFAULT_MAX_CONTENT_BYTES = 64 * 1024 * 1024;
