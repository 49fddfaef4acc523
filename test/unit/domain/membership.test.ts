import { describe, expect, it } from 'vitest';
import { membershipChange, needsLookup, tagsDigest } from '#commons/domain/membership';

const tags = tagsDigest({ organization_id: 'acme', team: 'eu' });

describe('tagsDigest', () => {
  it('names the tags whatever their order, and tells other tags apart', () => {
    expect(tagsDigest({ team: 'eu', organization_id: 'acme' })).toBe(tags);
    expect(tagsDigest({ organization_id: 'acme', team: 'us' })).not.toBe(tags);
    expect(tagsDigest({ organization_id: 'acme' })).not.toBe(tags);
    expect(tagsDigest(undefined)).toBe(tagsDigest({}));
  });
});

describe('needsLookup: which moved connections are read again before their seed', () => {
  const joined = membershipChange(['tags:organization_id=acme'], ['tags:organization_id=acme', 'tags:team=eu']);
  const left = membershipChange(['tags:organization_id=acme', 'tags:team=eu'], ['tags:organization_id=acme']);
  const moved = membershipChange(['tags:organization_id=acme'], ['tags:organization_id=other']);

  it('not a join under the tags the membership was listed with (the catalog changed)', () => {
    expect(needsLookup(joined, { tags }, tags)).toBe(false);
  });
  it('a join under other tags, or tags never recorded, is a re-tag: read again', () => {
    expect(needsLookup(joined, { tags: tagsDigest({ organization_id: 'acme' }) }, tags)).toBe(true);
    expect(needsLookup(joined, {}, tags)).toBe(true);
    expect(needsLookup(joined, undefined, tags)).toBe(true);
  });
  it('a connection that left a subject is read again, whatever its tags', () => {
    expect(needsLookup(left, { tags }, tags)).toBe(true);
    expect(needsLookup(moved, { tags }, tags)).toBe(true);
  });
  it('new and unchanged connections are not moves', () => {
    expect(needsLookup(membershipChange(undefined, ['tags:organization_id=acme']), undefined, tags)).toBe(false);
    expect(needsLookup(membershipChange(['a'], ['a']), { tags }, tags)).toBe(false);
  });
});
