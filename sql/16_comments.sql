-- Every member object of the extension has a COMMENT ON (pg_description),
-- so that \df+, \d+ and the docs' readers find what each one is for.
-- Rows here are the objects without one: give each a comment in the
-- extension/<version>/ part that creates it.
SELECT pg_describe_object(d.classid, d.objid, 0) AS object_without_comment
  FROM pg_depend d
 WHERE d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'tensafe_dr')
   AND d.deptype = 'e'
   AND obj_description(d.objid, d.classid::regclass::text) IS NULL
 ORDER BY 1;

-- The check above sees the members (it would pass on none): there are.
SELECT count(*) > 100 AS has_members
  FROM pg_depend d
 WHERE d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'tensafe_dr')
   AND d.deptype = 'e';
