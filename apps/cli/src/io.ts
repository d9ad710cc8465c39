/** Where the CLI writes and what it knows about its terminal; injected so tests run the program in-process. */
export interface OutputStream {
  write(chunk: string | Uint8Array): boolean;
  isTTY?: boolean;
  /** Terminal width, when a TTY. */
  columns?: number;
}

export interface CliIo {
  stdout: OutputStream;
  stderr: OutputStream;
  env: Record<string, string | undefined>;
  /** Aborted on SIGINT/SIGTERM (cli.ts); commands pass it to long transfers. */
  signal?: AbortSignal;
}

/** Writes everything, waiting for 'drain' on real streams, so large binary output to a pipe is not buffered whole. */
export async function writeAll(stream: OutputStream, chunk: string | Uint8Array): Promise<void> {
  const ok = stream.write(chunk);
  const emitter = stream as OutputStream & { once?: (event: string, cb: () => void) => void };
  if (!ok && typeof emitter.once === 'function') await new Promise<void>((resolve) => emitter.once!('drain', resolve));
}
