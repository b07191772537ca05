-- The text each person is found by, defined once: node.store.rows.refresh_fts copies rows of this view into
-- person_fts. Identity URIs are indexed without their scheme ("mailto:", "acct:", "https://", "tel:"): every
-- identity of a kind shares it, so a short prefix such as "ma" or "ac" matched the whole graph and search had
-- to rank every person (the 0001 text indexed the full URI).
CREATE VIEW person_search_text AS
SELECT p.pk AS pk,
       p.display_name || ' ' || coalesce(p.given_name, '') || ' ' || coalesce(p.family_name, '') || ' ' ||
           coalesce(p.nickname, '') AS names,
       coalesce(p.organization, '') || ' ' || coalesce(p.title, '') AS organization,
       (SELECT group_concat(i.display || ' ' ||
                   CASE WHEN instr(i.uri, '://') > 0 THEN substr(i.uri, instr(i.uri, '://') + 3)
                        ELSE substr(i.uri, instr(i.uri, ':') + 1) END, ' ')
          FROM identity i WHERE i.person_pk = p.pk) AS identities,
       (SELECT group_concat(n.body, ' ') FROM note n WHERE n.person_pk = p.pk) AS notes
FROM person p
WHERE p.status != 'merged';

DELETE FROM person_fts;
INSERT INTO person_fts(rowid, names, organization, identities, notes)
SELECT pk, names, organization, identities, notes FROM person_search_text;
