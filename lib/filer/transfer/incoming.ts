/**
 * The receiving end of a transfer (a local `get`, or a peer's `put`). It writes to the part file
 * `.<name>.part` in the downloads folder, acknowledges each chunk once it is on disk (the sender's
 * credit), hashes what it receives, and renames the part to the final name only when the whole
 * file's SHA-256 matches the sender's.
 *
 * The part file after an end that is not a success: kept when the connection was lost, a file
 * failed to write or the peer broke the protocol (a later `get` of the same name resumes from it,
 * once the sender has checked the prefix); removed on a checksum mismatch (its bytes are known bad)
 * and on a cancel (the user let the file go); removed too when it is empty.
 */
import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { rename, unlink } from 'node:fs/promises';
import { ChecksumMismatchError, DownloadExistsError, FileTooLargeError, TransferBusyError, TransferIoError } from '../../errors.js';
import { hashPrefix, peekDigest } from './prefix-hash.js';
import { checkName, downloadPaths, exists, openPart, type DownloadPaths } from './safe-path.js';
import { TransferBase, violation, type Outcome } from './transfer.js';
import type { ReceiverClaim, TransferMessage } from './vocabulary.js';

export class IncomingTransfer extends TransferBase {
  readonly direction = 'receive' as const;
  /** The name the file gets in the downloads folder (a get's `as`, else its name). */
  private localName = this.name;
  private paths: DownloadPaths | undefined;
  private claimed = false;
  private file: FileHandle | undefined;
  private hash: Hash | undefined;
  /** Length of the part file when the transfer began, and the SHA-256 of those bytes. */
  private have = 0;
  private haveHash: Hash | undefined;
  /** Offset the next chunk must have; bytes written to disk and acknowledged. */
  private received = 0;
  private written = 0;
  private expectingStart = false;

  /** A local `get`: prepares the part file, then asks the peer for the file. */
  requestGet(localName: string | undefined): void {
    this.serial(async () => {
      checkName(this.name);
      this.localName = checkName(localName ?? this.name);
      await this.prepare();
      // Cancelled while the part file was being prepared: the peer never hears of it.
      if (this.isEnding) return;
      this.expectingStart = true;
      this.peerKnows = true;
      this.link.send({ op: 'get', id: this.wireId, name: this.name, ...this.claim() }).catch((error: unknown) => this.interrupt(String(error)));
      this.awaitAnswer(`get ${JSON.stringify(this.name)}`);
    });
  }

  /** A peer's `put`: checks the offer, prepares the part file and answers with what it already has. */
  acceptPut(size: number): void {
    this.size = size;
    this.serial(async () => {
      checkName(this.name);
      const limit = this.context.options.maxFileBytes;
      if (size > limit) throw new FileTooLargeError(this.name, size, limit);
      await this.prepare();
      if (this.have > size) await this.restart();
      this.expectingStart = true;
      this.link.notify({ op: 'accept', id: this.wireId, ...this.claim() });
    });
  }

  handle(message: TransferMessage): void {
    if (this.ending) return;
    switch (message.op) {
      case 'start':
        return this.onStart(message.size, message.offset);
      case 'chunk':
        return this.onChunk(message.offset, message.data);
      case 'end':
        return this.onEnd(message.size, message.sha256);
      default:
        return this.fail(violation(`${message.op} is not expected by the receiver of a transfer`), true);
    }
  }

  private async prepare(): Promise<void> {
    const options = this.context.options;
    const paths = await downloadPaths(options.downloadsDir, this.localName);
    this.paths = paths;
    this.path = paths.final;
    if (!options.overwrite && (await exists(paths.final))) throw new DownloadExistsError(this.localName);
    if (!this.context.claimPart(paths.part)) throw new TransferBusyError(`another transfer is receiving ${JSON.stringify(this.localName)}`);
    this.claimed = true;
    this.file = await openPart(paths.part, this.localName);
    const have = (await this.file.stat()).size;
    const hash = have > 0 ? await hashPrefix(this.file, have, options.chunkBytes) : undefined;
    this.have = hash ? have : 0;
    this.haveHash = hash;
  }

  private claim(): ReceiverClaim {
    const { window, chunkBytes: chunk } = this.context.options;
    if (this.have === 0) return { have: 0, window, chunk };
    return { have: this.have, sha256: peekDigest(this.haveHash!), window, chunk };
  }

  /** Empties the part file: the sender restarts at 0. */
  private async restart(): Promise<void> {
    await this.file!.truncate(0);
    this.have = 0;
    this.haveHash = undefined;
  }

  private onStart(size: number, offset: number): void {
    if (!this.expectingStart) return this.fail(violation('start is not expected now'), true);
    const limit = this.context.options.maxFileBytes;
    if (size > limit) return this.fail(new FileTooLargeError(this.name, size, limit), true);
    if (offset !== 0 && offset !== this.have) return this.fail(violation(`start at ${offset}: the receiver has ${this.have} bytes`), true);
    if (offset > size) return this.fail(violation(`start at ${offset} is past the size ${size}`), true);
    if (this.kind === 'put' && size !== this.size) return this.fail(violation(`start announces ${size} bytes; the put offered ${this.size}`), true);
    this.answered();
    this.expectingStart = false;
    this.received = offset;
    this.written = offset;
    this.size = size;
    // Set now: the chunks that follow are hashed as they arrive.
    this.hash = offset === 0 ? createHash('sha256') : this.haveHash!;
    this.serial(async () => {
      if (offset === 0 && this.have > 0) await this.restart();
      this.begin(size, offset);
    });
  }

  private onChunk(offset: number, data: Buffer): void {
    const { window, chunkBytes } = this.context.options;
    if (this.expectingStart || this.size === undefined || this.state === 'verifying') {
      return this.fail(violation('chunk before start or after end'), true);
    }
    if (offset !== this.received) return this.fail(violation(`chunk at ${offset}; expected ${this.received}`), true);
    if (data.length > chunkBytes) return this.fail(violation(`chunk of ${data.length} bytes; the limit is ${chunkBytes}`), true);
    if (offset + data.length > this.size) return this.fail(violation(`chunk ends at ${offset + data.length}, past the size ${this.size}`), true);
    if (offset + data.length - this.written > window * chunkBytes) {
      return this.fail(violation(`chunk at ${offset} exceeds the credit window (${window} × ${chunkBytes} bytes past ${this.written})`), true);
    }
    this.received += data.length;
    this.bufferedChunks++;
    this.inFlightBytes = this.received - this.written;
    this.track();
    // Chunks arrive in file order (checked above), so they are hashed as they arrive: the hashing
    // of one overlaps the disk write of the one before, which the file work below serializes.
    this.hash!.update(data);
    this.serial(
      async () => {
        await writeAll(this.file!, data, offset);
        this.written = offset + data.length;
        this.bytes = this.written;
        this.bufferedChunks--;
        this.inFlightBytes = this.received - this.written;
        this.link.notify({ op: 'ack', id: this.wireId, offset: this.written });
        this.progressed();
      },
      () => this.bufferedChunks--,
    );
  }

  private onEnd(size: number, sha256: string): void {
    if (this.expectingStart || this.size === undefined) return this.fail(violation('end before start'), true);
    if (size !== this.size || this.received !== size) {
      return this.fail(violation(`end after ${this.received} of ${this.size} bytes (end says ${size})`), true);
    }
    this.state = 'verifying';
    this.serial(async () => {
      const actual = this.hash!.digest('hex');
      if (actual !== sha256) throw new ChecksumMismatchError(this.localName, sha256, actual);
      await this.publish();
      this.link.notify({ op: 'done', id: this.wireId, sha256: actual });
      this.succeed(actual);
    });
  }

  /** Closes the part file and renames it to the final name. */
  private async publish(): Promise<void> {
    const { final, part } = this.paths!;
    await this.closeHandle();
    if (!this.context.options.overwrite && (await exists(final))) throw new DownloadExistsError(this.localName);
    try {
      await rename(part, final);
    } catch (error) {
      throw new TransferIoError(`cannot publish ${JSON.stringify(this.localName)}`, error);
    }
    this.context.releasePart(part);
    this.claimed = false;
  }

  protected async cleanup(outcome: Outcome): Promise<void> {
    const handle = this.file;
    let partBytes = -1;
    if (handle) partBytes = await handle.stat().then((info) => info.size, () => -1);
    await this.closeHandle();
    if (!this.claimed || !this.paths) return;
    const remove =
      outcome.state === 'cancelled' || (outcome.state === 'failed' && outcome.error instanceof ChecksumMismatchError) || partBytes === 0;
    if (remove) await unlink(this.paths.part).catch(() => undefined);
    this.context.releasePart(this.paths.part);
    this.claimed = false;
  }

  private async closeHandle(): Promise<void> {
    const handle = this.file;
    this.file = undefined;
    if (handle) await handle.close().catch(() => undefined);
  }
}

/** Writes all of `data` at `position` (a file write may take fewer bytes than asked). */
async function writeAll(handle: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}
