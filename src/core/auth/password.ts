import argon2 from 'argon2';

export const PASSWORD_MIN = 10;
/** argon2 accepts longer input, but nobody types more; a bound keeps hashing cheap to refuse. */
export const PASSWORD_MAX = 1000;

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, { type: argon2.argon2id });
}

// A hash of nothing in particular, verified when the account does not exist, so that a wrong
// email takes as long to refuse as a wrong password (no account discovery by timing).
let decoy: Promise<string> | undefined;

export async function verifyPassword(hash: string | null | undefined, password: string): Promise<boolean> {
  if (!hash) {
    decoy ??= hashPassword('decoy password that matches no account');
    await argon2.verify(await decoy, password).catch(() => false);
    return false;
  }
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

/** The reason a new password is refused, as an i18n key, or null when it is acceptable. */
export function passwordProblem(password: string, confirm: string): string | null {
  if (password.length < PASSWORD_MIN) return 'auth.password.tooShort';
  if (password.length > PASSWORD_MAX) return 'auth.password.tooLong';
  if (password !== confirm) return 'auth.password.mismatch';
  return null;
}
