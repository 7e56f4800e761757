"""The ground floor of leasing, compliance, tiles and billing: what holds space, what is usable, what is free, what
is leased, and which size class a cable needs. Each is said once, here, as a SQL function or view; every domain
asks it instead of restating it (leasing's booking, graph, occupancy and hooks; the occupancy tiles; the
duct_available rule; the revenue report; the exclusion constraint itself).

* **Holds space** (`allocation_holds_space(status)`, IMMUTABLE): held, active or terminated. A terminated lease
  still occupied its past days; a released one never holds anything. The exclusion constraint and partial
  indexes use it, so it is immutable; SQL functions with a plain expression body are inlined by the planner,
  so `WHERE allocation_holds_space(status)` still proves an index's partial predicate.
* **Holds space at a moment** (`allocation_space_held_until(status, hold_expires_at)`: -infinity, the hold's
  expiry, or infinity; `allocation_holds_space_at(status, hold_expires_at, at)`): a hold counts only until it
  expires, even before the sweeper files it as released. The routing graph loads the first as a number and
  compares it with the clock, so it and SQL cannot disagree.
* **Usable subduct** (`subduct_usable(...)`, `segment_usable(...)`, the view `subduct_capacity`): the subduct
  has a leasable size class, is operational and not the city's reserve, its duct is operational, and its
  segment is operational and not removed. Proposed, planned, underConstruction and inactive network does not
  count: nobody can pull a cable into it today, so leasing must not offer it (the map shows it as "none").
* **Free** (`allocation_holds_over(status, hold_expires_at, period, during, at)`: holds space at the moment for a
  day of the period; `free_subducts(during, as_of)`: usable subducts no allocation holds so).
  `segment_space(segment, during, as_of, min_class)` counts usable and free ones of a minimum size class on one
  segment.
* **Leased metres** (`allocation_leased_on(status, period, day)`, `segment_occupancy_m(day)`): the contracted
  metres of allocations that hold space on the day and are not merely a hold, on usable subducts; beside them
  each segment's usable subduct-metres.
* **Cable fit** (`cable_outer_diameter_mm(cable_type, diameter_mm)`, the view `size_class_bore`,
  `cable_size_class(cable_mm)`): the smallest size class every bore of which (that class or larger) is wider
  than the cable. A cable without a recorded diameter takes its type's typical outer diameter (below).

The functions read other operators' holdings through `allocation_occupancy` (migration 0030), which carries no
identity, so they work the same under row-level security for every caller; `segment_occupancy_m` reads
`allocation` itself (contracted metres are the lessee's terms) and so sees what the caller may see.

Revision ID: 0034
"""

from alembic import op

from ducting.localdb import APP_ROLE

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

# A cable with no recorded diameter: the typical outer diameter of its type, in mm, as Batam's aerial cable comes.
# fiber: ADSS / figure-8 aerial fibre of 12-48 cores, 10-12 mm (the larger, so it is never offered a bore it
# jams in); drop: FTTH drop cable, round 3-5 mm or flat 2 x 5 mm; coax: RG-11 distribution coax, 10.3 mm; copper:
# 20-50 pair aerial telephone cable, about 20 mm; power: low-voltage twisted cable (NFA2X 4 x 70), about 40 mm;
# other: unknown, taken as a medium copper cable.
CABLE_DEFAULT_MM = {"fiber": 12, "drop": 5, "coax": 10, "copper": 20, "power": 40, "other": 20}

VIEWS = ("subduct_capacity", "size_class_bore")


def upgrade() -> None:
    defaults = " ".join(f"WHEN '{kind}' THEN {mm}" for kind, mm in CABLE_DEFAULT_MM.items())
    op.execute(f"""
    -- (a) an allocation that holds space, whatever the moment
    CREATE FUNCTION allocation_holds_space(status allocation_status) RETURNS boolean
      LANGUAGE sql IMMUTABLE PARALLEL SAFE
      RETURN status IN ('held', 'active', 'terminated');
    COMMENT ON FUNCTION allocation_holds_space(allocation_status) IS
      'Held, active or terminated: the statuses that occupy a subduct for their period (the exclusion constraint''s)';

    -- (b) until when it holds space: a hold until it expires, a lease for good, a released row never
    CREATE FUNCTION allocation_space_held_until(status allocation_status, hold_expires_at timestamptz)
      RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE
      RETURN CASE WHEN NOT allocation_holds_space(status) THEN '-infinity'::timestamptz
                  WHEN status = 'held' THEN hold_expires_at ELSE 'infinity'::timestamptz END;
    -- the first conjunct is implied by the second; it is there so a partial index on holds-space is provably usable
    CREATE FUNCTION allocation_holds_space_at(status allocation_status, hold_expires_at timestamptz, at timestamptz)
      RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
      RETURN allocation_holds_space(status) AND at < allocation_space_held_until(status, hold_expires_at);
    COMMENT ON FUNCTION allocation_holds_space_at(allocation_status, timestamptz, timestamptz) IS
      'Holds space at the moment: a hold only until it expires';
    -- holds space at the moment for a day of the period: what makes a subduct not free for that period
    CREATE FUNCTION allocation_holds_over(status allocation_status, hold_expires_at timestamptz, period daterange,
                                          during daterange, at timestamptz)
      RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
      RETURN allocation_holds_space_at(status, hold_expires_at, at) AND period && during;
    -- what blocks removing the network under it: space held at the moment, for the day or any later one
    CREATE FUNCTION allocation_holds_space_from(status allocation_status, hold_expires_at timestamptz,
                                                period daterange, day date, at timestamptz)
      RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
      RETURN allocation_holds_over(status, hold_expires_at, period, daterange(day, NULL), at);
    -- leased on a day: holds space then, and is a lease (in force or under notice), not merely a hold
    CREATE FUNCTION allocation_leased_on(status allocation_status, period daterange, day date)
      RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
      RETURN allocation_holds_space(status) AND status <> 'held' AND period @> day;

    ALTER TABLE allocation DROP CONSTRAINT ex_allocation_subduct_period;
    ALTER TABLE allocation ADD CONSTRAINT ex_allocation_subduct_period
      EXCLUDE USING gist (subduct_id WITH =, period WITH &&) WHERE (allocation_holds_space(status));

    -- (c) a usable subduct
    CREATE FUNCTION segment_usable(status lifecycle, removed_at timestamptz) RETURNS boolean
      LANGUAGE sql IMMUTABLE PARALLEL SAFE
      RETURN status = 'operational' AND removed_at IS NULL;
    CREATE FUNCTION subduct_usable(status lifecycle, is_reserved boolean, size_class size_class,
                                   duct_status lifecycle, segment_status lifecycle, segment_removed_at timestamptz)
      RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
      RETURN status = 'operational' AND NOT is_reserved AND size_class IS NOT NULL AND duct_status = 'operational'
             AND segment_usable(segment_status, segment_removed_at);
    COMMENT ON FUNCTION subduct_usable(lifecycle, boolean, size_class, lifecycle, lifecycle, timestamptz) IS
      'Leasable today: operational, not the reserve, a size class, its duct operational, its segment operational and not removed';

    CREATE VIEW subduct_capacity AS
    SELECT sd.id, sd.segment_id, sd.duct_id, d.position AS duct_position, sd.position, sd.spec_id, sp.size_class,
           sp.inner_diameter_mm,
           subduct_usable(sd.status, sd.is_reserved, sp.size_class, d.status, s.status, s.removed_at) AS usable
    FROM subduct sd JOIN duct d ON d.id = sd.duct_id JOIN route_segment s ON s.id = sd.segment_id
    JOIN duct_spec sp ON sp.id = sd.spec_id;
    COMMENT ON VIEW subduct_capacity IS 'Every subduct with its size class and whether it is usable (subduct_usable)';

    -- (d) free subducts for a period at a moment, and their count per segment. Both ask, per subduct, whether an
    -- allocation on it holds it over the period (allocation_holds_over); written as NOT EXISTS over the holdings,
    -- so the planner may answer it as an anti-join (a whole network at once) or one index probe per subduct.
    CREATE FUNCTION free_subducts(during daterange, as_of timestamptz)
      RETURNS SETOF subduct_capacity LANGUAGE sql STABLE PARALLEL SAFE AS $$
      SELECT c.* FROM subduct_capacity c
      WHERE c.usable AND NOT EXISTS (
          SELECT 1 FROM allocation_occupancy a  -- every operator's holding, without identity
          WHERE a.subduct_id = c.id AND allocation_holds_over(a.status, a.hold_expires_at, a.period, $1, $2))
    $$;
    COMMENT ON FUNCTION free_subducts(daterange, timestamptz) IS
      'Usable subducts no allocation holds for any day of the period, at the moment';
    -- One pass over the segment's subducts, and an aggregate, so the planner keeps it one subquery per segment
    -- (inlined scalar subqueries would be copied into every expression that reads `usable` or `free`).
    CREATE FUNCTION segment_space(segment bigint, during daterange, as_of timestamptz,
                                  min_class size_class DEFAULT 'microduct')
      RETURNS TABLE (usable integer, free integer) LANGUAGE sql STABLE PARALLEL SAFE AS $$
      SELECT count(*)::integer,
             (count(*) FILTER (WHERE NOT EXISTS (
                 SELECT 1 FROM allocation_occupancy a
                 WHERE a.subduct_id = c.id AND allocation_holds_over(a.status, a.hold_expires_at, a.period, $2, $3)
             )))::integer
      FROM subduct_capacity c WHERE c.segment_id = $1 AND c.usable AND c.size_class >= $4
    $$;
    COMMENT ON FUNCTION segment_space(bigint, daterange, timestamptz, size_class) IS
      'Usable and free subducts of at least a size class on one segment (the routing graph''s capacity, in SQL)';

    CREATE FUNCTION segment_occupancy_m(day date)
      RETURNS TABLE (segment_id bigint, usable_m numeric, leased_m numeric) LANGUAGE sql STABLE PARALLEL SAFE AS $$
      SELECT c.segment_id, sum(s.length_m), coalesce(sum(l.leased_m), 0)
      FROM subduct_capacity c JOIN route_segment s ON s.id = c.segment_id
      LEFT JOIN (SELECT a.subduct_id, sum(a.contracted_length_m) AS leased_m FROM allocation a
                 WHERE allocation_leased_on(a.status, a.period, $1) GROUP BY a.subduct_id) l ON l.subduct_id = c.id
      WHERE c.usable GROUP BY c.segment_id
    $$;
    COMMENT ON FUNCTION segment_occupancy_m(date) IS
      'Per segment: usable subduct-metres and the contracted metres leased on the day on them';

    -- cable fit: the diameter to plan with, and the smallest size class that takes it
    CREATE FUNCTION cable_outer_diameter_mm(cable_type text, diameter_mm numeric) RETURNS numeric
      LANGUAGE sql IMMUTABLE PARALLEL SAFE
      RETURN coalesce(diameter_mm, CASE cable_type {defaults} ELSE {CABLE_DEFAULT_MM["other"]} END);
    COMMENT ON FUNCTION cable_outer_diameter_mm(text, numeric) IS
      'The recorded diameter, else the cable type''s typical one (migration 0034 says where each comes from)';
    CREATE VIEW size_class_bore AS
    SELECT c AS size_class,
           (SELECT min(s.inner_diameter_mm) FROM duct_spec s WHERE s.kind <> 'carrier' AND s.size_class >= c)
             AS min_inner_mm
    FROM unnest(enum_range(NULL::size_class)) AS c;
    COMMENT ON VIEW size_class_bore IS
      'Per size class, the narrowest bore a request of that class may be given (that class or any larger one)';
    CREATE FUNCTION cable_size_class(cable_mm numeric) RETURNS size_class LANGUAGE sql STABLE PARALLEL SAFE
      RETURN (SELECT min(b.size_class) FROM size_class_bore b WHERE b.min_inner_mm > cable_mm);
    COMMENT ON FUNCTION cable_size_class(numeric) IS
      'The smallest size class whose every bore is wider than the cable; NULL when none is';

    DO $$ BEGIN
      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') AND current_user <> '{APP_ROLE}' THEN
        -- default privileges granted writes on new relations; these views are read-only for the service
        REVOKE ALL ON {", ".join(VIEWS)} FROM {APP_ROLE};
        GRANT SELECT ON {", ".join(VIEWS)} TO {APP_ROLE};
      END IF;
    END $$;
    """)


def downgrade() -> None:
    op.execute("""
    DROP FUNCTION cable_size_class(numeric); DROP VIEW size_class_bore; DROP FUNCTION cable_outer_diameter_mm(text, numeric);
    DROP FUNCTION segment_occupancy_m(date);
    DROP FUNCTION segment_space(bigint, daterange, timestamptz, size_class);
    DROP FUNCTION free_subducts(daterange, timestamptz);
    DROP VIEW subduct_capacity;
    DROP FUNCTION subduct_usable(lifecycle, boolean, size_class, lifecycle, lifecycle, timestamptz);
    DROP FUNCTION segment_usable(lifecycle, timestamptz);
    ALTER TABLE allocation DROP CONSTRAINT ex_allocation_subduct_period;
    ALTER TABLE allocation ADD CONSTRAINT ex_allocation_subduct_period
      EXCLUDE USING gist (subduct_id WITH =, period WITH &&) WHERE (status IN ('held', 'active', 'terminated'));
    DROP FUNCTION allocation_leased_on(allocation_status, daterange, date);
    DROP FUNCTION allocation_holds_space_from(allocation_status, timestamptz, daterange, date, timestamptz);
    DROP FUNCTION allocation_holds_over(allocation_status, timestamptz, daterange, daterange, timestamptz);
    DROP FUNCTION allocation_holds_space_at(allocation_status, timestamptz, timestamptz);
    DROP FUNCTION allocation_space_held_until(allocation_status, timestamptz);
    DROP FUNCTION allocation_holds_space(allocation_status);
    """)
