// Usernames are compared after NFKC and full case folding, so "Ｂob", "BOB" and "bob" are one user.
// JavaScript has no case-fold primitive: upper- then lower-casing folds the cases that matter
// (ß → ss, ﬁ → fi) the way Unicode's full case folding does.
import { UsernameInvalid } from '../errors.ts'

const ALLOWED = /^[\p{L}\p{N}][\p{L}\p{N}._-]{0,63}$/u
const HAS_LETTER = /\p{L}/u

export function usernameKey(username: string): string {
  return username.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC')
}

/** Returns the display form (NFKC) of a valid username, or throws MVM_USER_NAME_INVALID. */
export function checkUsername(username: string): string {
  const display = username.normalize('NFKC')
  if (!ALLOWED.test(display) || usernameKey(display).length > 64) {
    throw new UsernameInvalid('a username is 1-64 letters, digits, dots, dashes or underscores, starting with a letter or digit')
  }
  // Phone numbers are never collected: a username must not be one.
  if (!HAS_LETTER.test(display)) throw new UsernameInvalid('a username must contain a letter')
  return display
}
