// Lists the listening sockets a process holds, from /proc: TCP and TCP6 in state LISTEN, any bound
// UDP/UDP6/raw socket (which receives without a connection), and Unix sockets with the accept flag.
// A socket belongs to the process when /proc/PID/fd links to socket:[inode].
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

export interface Listener {
  pid: number;
  table: string;
  inode: string;
  line: string;
}

function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const match = /^socket:\[(\d+)\]$/.exec(link);
      if (match?.[1]) inodes.add(match[1]);
    } catch {
      // fd closed meanwhile
    }
  }
  return inodes;
}

function tableLines(table: string): string[] {
  try {
    return readFileSync(`/proc/net/${table}`, 'utf8').trim().split('\n').slice(1);
  } catch {
    return [];
  }
}

/** Every listening socket of the given processes; also the count of sockets they hold at all. */
export function listeningSockets(pids: number[]): { listeners: Listener[]; sockets: number } {
  const listeners: Listener[] = [];
  let sockets = 0;
  for (const pid of pids) {
    const inodes = socketInodes(pid);
    sockets += inodes.size;
    if (inodes.size === 0) continue;
    for (const table of ['tcp', 'tcp6']) {
      for (const line of tableLines(table)) {
        const f = line.trim().split(/\s+/);
        if (f[3] === '0A' && f[9] && inodes.has(f[9])) listeners.push({ pid, table, inode: f[9], line });
      }
    }
    for (const table of ['udp', 'udp6', 'raw', 'raw6', 'udplite', 'udplite6']) {
      for (const line of tableLines(table)) {
        const f = line.trim().split(/\s+/);
        if (f[9] && inodes.has(f[9])) listeners.push({ pid, table, inode: f[9], line });
      }
    }
    for (const line of tableLines('unix')) {
      const f = line.trim().split(/\s+/);
      const flags = Number.parseInt(f[3] ?? '0', 16);
      // __SO_ACCEPTCON (0x10000): a Unix socket that accepts connections.
      if ((flags & 0x10000) !== 0 && f[6] && inodes.has(f[6]))
        listeners.push({ pid, table: 'unix', inode: f[6], line });
    }
  }
  return { listeners, sockets };
}

/** The process and all its descendants (from /proc/PID/task/TID/children). */
export function processTree(pid: number): number[] {
  const all = [pid];
  for (let i = 0; i < all.length; i++) {
    const current = all[i];
    if (current === undefined) continue;
    try {
      for (const tid of readdirSync(`/proc/${current}/task`)) {
        const children = readFileSync(`/proc/${current}/task/${tid}/children`, 'utf8').trim();
        if (children) all.push(...children.split(/\s+/).map(Number));
      }
    } catch {
      // exited
    }
  }
  return all;
}
