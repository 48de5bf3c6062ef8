import { z } from 'zod';

/** POST /players. Unknown fields are refused, so a typo never silently disappears. */
export const createPlayerBody = z.strictObject({
  id: z.string().trim().min(1).max(64),
  username: z.string().min(3).max(32),
  email: z.email().optional(),
  level: z.number().int().min(1).optional(),
});

/** PUT /players/:id: the fields to change; the id comes from the path. */
export const updatePlayerBody = z
  .strictObject({
    username: z.string().min(3).max(32).optional(),
    email: z.email().nullable().optional(),
    level: z.number().int().min(1).optional(),
  })
  .refine((body) => Object.keys(body).length > 0, { message: 'nothing to update' });

/** POST /scores. The id is generated when missing. */
export const createScoreBody = z.strictObject({
  id: z.string().trim().min(1).max(64).optional(),
  playerId: z.string().trim().min(1).max(64),
  points: z.number().int().min(0),
});

/** GET /leaderboard?limit= */
export const leaderboardQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(10),
});

/**
 * A 400 body that names the first bad field, with the code Strata uses for bad input, e.g.
 * `{ error: 'username: Too small…', code: 'VALIDATION_FAILED', field: 'username' }`.
 */
export function validationError(error: z.ZodError): {
  error: string;
  code: 'VALIDATION_FAILED';
  field: string;
} {
  const issue = error.issues[0];
  const field =
    issue?.path.join('.') || (issue?.code === 'unrecognized_keys' ? issue.keys.join(', ') : 'body');
  return { error: `${field}: ${issue?.message ?? 'invalid'}`, code: 'VALIDATION_FAILED', field };
}
