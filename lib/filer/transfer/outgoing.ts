/**
 * The sending end of a transfer (a peer's `get`, or a local `put`). It reads the file one chunk at
 * a time into at most `window` reused buffers, and writes a chunk only when the credit window has
 * room (fewer than `window` chunks unacknowledged) and the connection's outbound queue is short
 * (`queueBytes`), so memory stays at `window × chunkBytes` and a chat message never waits behind
 * more than that. A buffer is reused only after the receiver acknowledged its chunk: by then the
 * frame has left this process, whatever the transport does with the bytes it was given.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { FileTooLargeError, TransferIoError, UnsafeNameError } from '../../errors.js';
import { CHUNK_FRAME_OVERHEAD } from './link.js';
import { hashPrefix, peekDigest } from './prefix-hash.js';
import { checkName, resolveShared } from './safe-path.js';
import { TransferBase, violation, type Outcome } from './transfer.js';
import type { ReceiverClaim, TransferMessage } from './vocabulary.js';

interface SentChunk {
  readonly end: number;
  readonly buffer: Buffer;
}

export class OutgoingTransfer extends TransferBase {
  readonly direction = 'send' as const;
  private file: FileHandle | undefined;
  private hash: Hash | undefined;
  private chunkBytes = 0;
  private window = 0;
  /** Offset of the next chunk to read and send; offset acknowledged by the receiver. */
  private next = 0;
  private acked = 0;
  private readonly unacked: SentChunk[] = [];
  private readonly free: Buffer[] = [];
  private reading = false;
  private endSent = false;
  private expectingAccept = false;

  /** A peer's `get`: finds the file in the shared folder, decides where to start, and sends. */
  serveGet(claim: ReceiverClaim): void {
    this.serial(async () => {
      const file = await resolveShared(this.context.options.shareDir, this.name);
      this.path = file.path;
      await this.openSource(file.path);
      await this.startFrom(claim);
    });
  }

  /** A local `put`: opens the local file and offers it to the peer under `name`. */
  offerPut(file: string): void {
    this.serial(async () => {
      checkName(this.name);
      this.path = resolve(file);
      await this.openSource(this.path);
      // Cancelled while the file was being opened: the peer never hears of it.
      if (this.isEnding) return;
      this.expectingAccept = true;
      this.peerKnows = true;
      this.link.send({ op: 'put', id: this.wireId, name: this.name, size: this.size! }).catch((error: unknown) => this.interrupt(String(error)));
      this.awaitAnswer(`put ${JSON.stringify(this.name)}`);
    });
  }

  handle(message: TransferMessage): void {
    if (this.ending) return;
    switch (message.op) {
      case 'accept':
        if (!this.expectingAccept) return this.fail(violation('accept is not expected now'), true);
        this.expectingAccept = false;
        this.answered();
        this.serial(() => this.startFrom(message));
        return;
      case 'ack':
        return this.onAck(message.offset);
      case 'done':
        return this.onDone(message.sha256);
      default:
        return this.fail(violation(`${message.op} is not expected by the sender of a transfer`), true);
    }
  }

  private async openSource(path: string): Promise<void> {
    try {
      this.file = await open(path, 'r');
    } catch (error) {
      throw new TransferIoError(`cannot open ${JSON.stringify(this.name)}`, error);
    }
    const info = await this.file.stat();
    if (!info.isFile()) throw new UnsafeNameError(this.name, 'not a regular file');
    const limit = this.context.options.maxFileBytes;
    if (info.size > limit) throw new FileTooLargeError(this.name, info.size, limit);
    this.size = info.size;
  }

  /**
   * Starts where the receiver's verified part ends: its `have` bytes are kept when their SHA-256
   * matches this file's first `have` bytes, otherwise the file goes again from 0.
   */
  private async startFrom(claim: ReceiverClaim): Promise<void> {
    const size = this.size!;
    const options = this.context.options;
    this.chunkBytes = Math.min(options.chunkBytes, claim.chunk);
    this.window = Math.min(options.window, claim.window);
    let offset = 0;
    let hash: Hash | undefined;
    if (claim.have > 0 && claim.have <= size) {
      hash = await hashPrefix(this.file!, claim.have, this.chunkBytes);
      if (hash && peekDigest(hash) === claim.sha256) offset = claim.have;
      else hash = undefined;
    }
    if (this.ending) return;
    this.hash = hash ?? createHash('sha256');
    this.next = offset;
    this.acked = offset;
    this.link.send({ op: 'start', id: this.wireId, size, offset }).catch((error: unknown) => this.interrupt(String(error)));
    this.begin(size, offset);
    this.pump();
  }

  /** Sends what the window and the connection's queue allow; called again on every ack and drain. */
  private readonly pump = (): void => {
    if (this.ending || this.reading || this.state !== 'active') return;
    const size = this.size!;
    if (this.next >= size) {
      if (!this.endSent) {
        this.endSent = true;
        this.state = 'verifying'; // the receiver checks the checksum and answers done
        this.sha256 = this.hash!.digest('hex');
        this.link.send({ op: 'end', id: this.wireId, size, sha256: this.sha256 }).catch((error: unknown) => this.interrupt(String(error)));
      }
      return;
    }
    if (this.unacked.length >= this.window) return; // the next ack calls pump again
    const length = Math.min(this.chunkBytes, size - this.next);
    if (!this.link.hasRoom(length + CHUNK_FRAME_OVERHEAD)) {
      this.link.whenRoom(this.pump);
      return;
    }
    this.reading = true;
    void this.readAndSend(length);
  };

  private async readAndSend(length: number): Promise<void> {
    const offset = this.next;
    const buffer = this.free.pop() ?? Buffer.allocUnsafeSlow(this.chunkBytes);
    try {
      await readAll(this.file!, buffer, length, offset);
    } catch (error) {
      this.reading = false;
      this.fail(new TransferIoError(`cannot read ${JSON.stringify(this.name)}`, error), true);
      return;
    }
    this.reading = false;
    if (this.ending) return;
    const data = buffer.subarray(0, length);
    this.next = offset + length;
    this.unacked.push({ end: this.next, buffer });
    this.inFlightBytes = this.next - this.acked;
    this.bufferedChunks = this.unacked.length + this.free.length;
    this.track();
    this.link.send({ op: 'chunk', id: this.wireId, offset, data }).catch((error: unknown) => this.interrupt(String(error)));
    // The next read starts before this chunk is hashed, so the disk works while the hash runs.
    // Reads are serial, so chunks are still hashed in file order; the last one is hashed before
    // pump() sends the end and its digest.
    if (this.next >= this.size!) {
      this.hash!.update(data);
      this.pump();
    } else {
      this.pump();
      this.hash!.update(data);
    }
  }

  private onAck(offset: number): void {
    if (this.size === undefined || offset <= this.acked || offset > this.next) {
      return this.fail(violation(`ack of ${offset}: ${this.acked} acknowledged, ${this.next} sent`), true);
    }
    this.acked = offset;
    while (this.unacked.length > 0 && this.unacked[0]!.end <= offset) this.free.push(this.unacked.shift()!.buffer);
    this.bytes = offset;
    this.inFlightBytes = this.next - this.acked;
    this.progressed();
    this.pump();
  }

  private onDone(sha256: string): void {
    if (!this.endSent || sha256 !== this.sha256) return this.fail(violation('done before end, or with another checksum'), true);
    this.succeed(sha256);
  }

  protected async cleanup(_outcome: Outcome): Promise<void> {
    this.unacked.length = 0;
    this.free.length = 0;
    const handle = this.file;
    this.file = undefined;
    // FileHandle.close waits for a read still in progress.
    if (handle) await handle.close().catch(() => undefined);
  }
}

/** Reads exactly `length` bytes at `position`; a file that got shorter is an error. */
async function readAll(handle: FileHandle, buffer: Buffer, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) throw new Error(`the file ended at ${position + done} bytes: it changed during the transfer`);
    done += bytesRead;
  }
}
