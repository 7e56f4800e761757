"""Every compliance rule, in one place: its code, severity, threshold (a setting), explanation in Bahasa Indonesia
and English, and the set-based SQL that finds its violations.

Each rule's SQL inserts candidate rows into the temporary table `_cand` (see `ducting.compliance.evaluation`,
which prepares `_live`, `_obs`, `_pobs` and merges `_cand` into `compliance_flag`). A rule is evaluated for a
scope: everything, or the spans and poles one survey touched. `{span_scope}`, `{att_scope}` and `{pole_scope}`
are that scope as SQL conditions, so an incremental run uses the indexes rather than filtering everything.

Subjects: a span-level problem (clearance, sag, zone) concerns every operator with a cable on the span
(`operator_ids`); `duct_available` concerns the operators whose cable a capacity request could move into the duct
today; an attachment-level one concerns the cable's operator; a pole-level one the operators on it.

Every rule with a threshold stores what it measured beside it (`measured`, `threshold`, `unit`); a rule with
further limits keeps each measured value beside its limit in the evidence (duct_available: `distance_m` beside
`max_distance_m`, `angle_deg` beside `max_angle_deg`).
A span with no cable left is no longer a subject of span rules: that is how a removed cable resolves its flags.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ducting.compliance.settings import ComplianceSettings
from ducting.compliance.vocab import RuleCode, Severity, SubjectKind


@dataclass(frozen=True)
class Rule:
    code: RuleCode
    severity: Severity
    subject: SubjectKind
    setting: str | None  # the ComplianceSettings field that holds the threshold
    unit: str | None
    title_id: str
    title_en: str
    explain_id: str
    explain_en: str
    sql: str
    note: str = ""

    def threshold(self, settings: ComplianceSettings) -> float | None:
        return None if self.setting is None else float(getattr(settings, self.setting))


CAND_COLUMNS = (
    "rule, severity, subject_kind, subject_id, span_id, pole_id, operator_ids, measured, threshold, unit, "
    "observation_id, survey_id, road_class, kecamatan_kode, evidence, geom"
)

# Operators licensed today, as one array computed once per statement (an InitPlan): a correlated EXISTS per cable
# cost a probe for each of ~600k cables in a full run.
_LICENSED_OPERATORS = """ARRAY(SELECT g.operator_id FROM operator_agreement g WHERE g.revoked_at IS NULL
    AND g.valid_from <= CURRENT_DATE AND (g.valid_to IS NULL OR g.valid_to >= CURRENT_DATE))"""

# An attachment with where it hangs and its latest verified observation (span or pole).
_ATTACHMENT_FROM = """
    FROM cable_attachment a
    LEFT JOIN aerial_span s ON s.id = a.span_id
    LEFT JOIN node p ON p.id = a.pole_id
    LEFT JOIN _obs o ON o.span_id = a.span_id
    LEFT JOIN _pobs po ON po.pole_id = a.pole_id
    WHERE a.removed_at IS NULL {att_scope}"""

_ATTACHMENT_SELECT = """'{code}', '{severity}', 'attachment', a.id, a.span_id, a.pole_id,
    CASE WHEN a.operator_id IS NULL THEN '{{}}'::bigint[] ELSE ARRAY[a.operator_id] END"""

_ATTACHMENT_TAIL = """coalesce(o.id, po.id), coalesce(o.survey_id, po.survey_id), coalesce(s.road_class, 'none'),
    coalesce(s.kecamatan_kode, p.kecamatan_kode)"""


def _attachment_rule(code: RuleCode, severity: Severity, evidence: str, where: str) -> str:
    return f"""INSERT INTO _cand ({CAND_COLUMNS})
    SELECT {_ATTACHMENT_SELECT.format(code=code.value, severity=severity.value)}, NULL, NULL, NULL,
           {_ATTACHMENT_TAIL},
           jsonb_build_object('cable_type', a.cable_type, 'permit_ref', a.permit_ref, 'owner_tag', a.owner_tag) || {evidence},
           coalesce(s.geom, p.geom)
    {_ATTACHMENT_FROM} AND ({where})"""


LOW_CLEARANCE_ROAD = Rule(
    code=RuleCode.LOW_CLEARANCE_ROAD,
    severity=Severity.CRITICAL,
    subject=SubjectKind.SPAN,
    setting="road_clearance_m",
    unit="m",
    title_id="Jarak bebas kabel di atas jalan terlalu rendah",
    title_en="Cable too low over a road",
    explain_id="Kabel melintas di atas jalan di bawah tinggi minimum {road_clearance_m} m (ketentuan Jakarta; NESC Amerika "
    "Serikat memakai 4,7 m), atau di atas trotoar di bawah {sidewalk_clearance_m} m. Kendaraan tinggi dapat "
    "menyangkut dan memutus kabel.",
    explain_en="The cable crosses a road below the minimum {road_clearance_m} m (Jakarta's rule; the US NESC uses 4.7 m), or a "
    "sidewalk below {sidewalk_clearance_m} m. Tall vehicles can snag and break it.",
    note="The sidewalk threshold is a separate setting (sidewalk_clearance_m).",
    sql=f"""INSERT INTO _cand ({CAND_COLUMNS})
    SELECT 'low_clearance_road', 'critical', 'span', s.id, s.id, NULL, l.ops, o.min_clearance_m,
           CASE WHEN o.crosses = 'sidewalk' THEN :sidewalk_clearance_m ELSE :road_clearance_m END, 'm',
           o.id, o.survey_id, s.road_class, s.kecamatan_kode,
           jsonb_build_object('crosses', coalesce(o.crosses, CASE WHEN s.crosses_road THEN 'road' ELSE 'none' END),
                              'observed_at', o.observed_at, 'photo_ref', o.photo_ref),
           s.geom
    FROM _obs o JOIN aerial_span s ON s.id = o.span_id JOIN _live l ON l.span_id = s.id
    WHERE o.min_clearance_m IS NOT NULL AND (
          (coalesce(o.crosses, CASE WHEN s.crosses_road THEN 'road' ELSE 'none' END) = 'road'
           AND o.min_clearance_m < :road_clearance_m)
       OR (o.crosses = 'sidewalk' AND o.min_clearance_m < :sidewalk_clearance_m))""",
)

UNTAGGED_CABLE = Rule(
    code=RuleCode.UNTAGGED_CABLE,
    severity=Severity.MEDIUM,
    subject=SubjectKind.ATTACHMENT,
    setting=None,
    unit=None,
    title_id="Kabel tanpa label pemilik",
    title_en="Cable without an owner tag",
    explain_id="Kabel tidak memiliki label pemilik, sehingga tidak dapat ditelusuri saat terjadi gangguan atau "
    "penertiban.",
    explain_en="The cable carries no owner tag, so nobody can trace it when it fails or must be moved.",
    sql=_attachment_rule(RuleCode.UNTAGGED_CABLE, Severity.MEDIUM, "'{}'::jsonb", "NOT a.owner_tag"),
)

UNLICENSED_CABLE = Rule(
    code=RuleCode.UNLICENSED_CABLE,
    severity=Severity.HIGH,
    subject=SubjectKind.ATTACHMENT,
    setting=None,
    unit=None,
    title_id="Kabel tanpa perjanjian atau izin yang berlaku",
    title_en="Cable without an active agreement",
    explain_id="Penyelenggara kabel tidak memiliki perjanjian (PKS) atau izin yang berlaku hari ini, atau "
    "penyelenggaranya tidak diketahui.",
    explain_en="The cable's operator has no agreement (PKS) or permit valid today, or the operator is unknown.",
    sql=_attachment_rule(
        RuleCode.UNLICENSED_CABLE,
        Severity.HIGH,
        "jsonb_build_object('why', CASE WHEN a.operator_id IS NULL THEN 'operator_unknown' ELSE 'no_active_agreement' END)",
        f"a.operator_id IS NULL OR NOT a.operator_id = ANY({_LICENSED_OPERATORS})",
    ),
)

ABANDONED_CABLE = Rule(
    code=RuleCode.ABANDONED_CABLE,
    severity=Severity.MEDIUM,
    subject=SubjectKind.ATTACHMENT,
    setting=None,
    unit=None,
    title_id="Kabel mati atau terbengkalai",
    title_en="Dead or abandoned cable",
    explain_id="Kabel ditandai mati oleh surveyor, atau penyelenggaranya sudah tidak aktif. Kabel ini harus dibongkar.",
    explain_en="The surveyor marked the cable dead, or its operator is no longer active. It must come down.",
    sql=_attachment_rule(
        RuleCode.ABANDONED_CABLE,
        Severity.MEDIUM,
        "jsonb_build_object('why', CASE WHEN a.is_dead THEN 'marked_dead' ELSE 'operator_inactive' END)",
        "a.is_dead OR a.operator_id = ANY(ARRAY(SELECT org.id FROM organisation org WHERE org.status = 'inactive'))",
    ),
)

OVERLOADED_POLE = Rule(
    code=RuleCode.OVERLOADED_POLE,
    severity=Severity.HIGH,
    subject=SubjectKind.POLE,
    setting="max_attachments_per_pole",
    unit="cables",
    title_id="Tiang kelebihan beban kabel",
    title_en="Pole carries too many cables",
    explain_id="Tiang memikul lebih dari {max_attachments_per_pole} kabel. Tidak ada angka batas resmi yang "
    "dipublikasikan di Indonesia; angka ini ditetapkan Pemerintah Kota sebagai pengaturan.",
    explain_en="The pole carries more than {max_attachments_per_pole} cables. No published Indonesian limit "
    "exists; the number is the city's setting.",
    note="Load = cables on the pole itself + the busiest span ending at it (a through cable counts once), or the "
    "surveyor's count when that is higher.",
    sql=f"""INSERT INTO _cand ({CAND_COLUMNS})
    WITH ends AS (
        SELECT v.pole_id, l.n, l.ops FROM _live l JOIN aerial_span s ON s.id = l.span_id
        CROSS JOIN LATERAL (VALUES (s.from_pole_id), (s.to_pole_id)) AS v(pole_id)),
    through AS (SELECT pole_id, max(n) AS n, array_agg(DISTINCT op) FILTER (WHERE op IS NOT NULL) AS ops
                FROM ends LEFT JOIN LATERAL unnest(ends.ops) AS op ON true GROUP BY pole_id),
    own AS (SELECT a.pole_id, count(*) AS n,
                   array_agg(DISTINCT a.operator_id) FILTER (WHERE a.operator_id IS NOT NULL) AS ops
            FROM cable_attachment a WHERE a.removed_at IS NULL AND a.pole_id IS NOT NULL {{own_scope}} GROUP BY a.pole_id),
    load AS (SELECT coalesce(t.pole_id, w.pole_id) AS pole_id, coalesce(w.n, 0) + coalesce(t.n, 0) AS n,
                    ARRAY(SELECT DISTINCT x FROM unnest(coalesce(w.ops, '{{}}') || coalesce(t.ops, '{{}}')) AS x) AS ops,
                    coalesce(w.n, 0) AS on_pole, coalesce(t.n, 0) AS through_span
             FROM through t FULL JOIN own w ON w.pole_id = t.pole_id)
    SELECT 'overloaded_pole', 'high', 'pole', p.id, NULL, p.id, ld.ops,
           greatest(ld.n, coalesce(po.cable_count, 0)), :max_attachments_per_pole, 'cables',
           po.id, po.survey_id, 'none', p.kecamatan_kode,
           jsonb_build_object('on_pole', ld.on_pole, 'busiest_span', ld.through_span, 'counted', po.cable_count),
           p.geom
    FROM load ld JOIN node p ON p.id = ld.pole_id LEFT JOIN _pobs po ON po.pole_id = p.id
    WHERE greatest(ld.n, coalesce(po.cable_count, 0)) > :max_attachments_per_pole {{pole_scope}}""",
)

SLACK_OR_SAG = Rule(
    code=RuleCode.SLACK_OR_SAG,
    severity=Severity.MEDIUM,
    subject=SubjectKind.SPAN,
    setting=None,
    unit="findings",
    title_id="Gulungan kabel, kabel melendut atau menjuntai",
    title_en="Coiled slack, sag or a loose cable",
    explain_id="Surveyor melihat gulungan sisa kabel di tiang, kabel yang melendut, atau kabel yang menjuntai "
    "lepas: ciri kabel udara semrawut.",
    explain_en="The surveyor saw coiled slack on a pole, a sagging span or a cable hanging loose: the marks of "
    "disorderly overhead cable.",
    sql=f"""INSERT INTO _cand ({CAND_COLUMNS})
    SELECT 'slack_or_sag', 'medium', 'span', s.id, s.id, NULL, l.ops,
           o.coiled_slack::int + o.sagging::int + o.loose_cable::int, 0, 'findings',
           o.id, o.survey_id, s.road_class, s.kecamatan_kode,
           jsonb_build_object('coiled_slack', o.coiled_slack, 'sagging', o.sagging, 'loose_cable', o.loose_cable,
                              'photo_ref', o.photo_ref),
           s.geom
    FROM _obs o JOIN aerial_span s ON s.id = o.span_id JOIN _live l ON l.span_id = s.id
    WHERE o.coiled_slack OR o.sagging OR o.loose_cable""",
)

NO_OVERHEAD_ZONE = Rule(
    code=RuleCode.NO_OVERHEAD_ZONE,
    severity=Severity.HIGH,
    subject=SubjectKind.SPAN,
    setting=None,
    unit="m",
    title_id="Kabel udara di kawasan bebas kabel udara",
    title_en="Overhead cable in a no-overhead zone",
    explain_id="Bentang kabel berada di dalam kawasan yang melarang kabel udara. Kabel harus dipindahkan ke "
    "ducting bawah tanah.",
    explain_en="The span lies inside a zone where overhead cable is prohibited. It must move underground.",
    sql=f"""INSERT INTO _cand ({CAND_COLUMNS})
    SELECT 'no_overhead_zone', 'high', 'span', s.id, s.id, NULL, l.ops,
           round(sum(ST_Length(ST_Intersection(s.geom_m, z.geom_m)))::numeric, 2), 0, 'm',
           min(o.id), min(o.survey_id), s.road_class, s.kecamatan_kode,
           jsonb_build_object('zones', jsonb_agg(jsonb_build_object('id', z.id, 'name', z.name))),
           s.geom
    FROM _live l JOIN aerial_span s ON s.id = l.span_id
    JOIN no_overhead_zone z ON z.active AND ST_Intersects(s.geom_m, z.geom_m)
    LEFT JOIN _obs o ON o.span_id = s.id
    GROUP BY s.id, l.ops""",
)


def free_subducts_today(day: str = "CURRENT_DATE") -> str:
    """SQL: the subducts a capacity request for `day` would be given now (the database's `free_subducts`,
    migration 0034): leasing's own question, not a copy of its rule."""
    return f"free_subducts(daterange({day}, {day}, '[]'), now())"


def free_segment(segment: str = "r.id", *, day: str = "CURRENT_DATE", size_class: str | None = None) -> str:
    """SQL: the segment (an id expression) has a subduct a capacity request for `day` would be given now, of at
    least `size_class` (an SQL expression) when one is named."""
    fits = "" if size_class is None else f" AND f.size_class >= {size_class}"
    return f"EXISTS (SELECT 1 FROM {free_subducts_today(day)} f WHERE f.segment_id = {segment}{fits})"


# Shared with the benchmark's plain join (bench/compliance.py), which names the segment `r`.
FREE_SEGMENT = free_segment()

DUCT_AVAILABLE = Rule(
    code=RuleCode.DUCT_AVAILABLE,
    severity=Severity.LOW,
    subject=SubjectKind.SPAN,
    setting="duct_min_parallel_m",
    unit="m",
    title_id="Ducting tersedia: kandidat pemindahan ke bawah tanah",
    title_en="Duct available: migration candidate",
    explain_id="Bentang kabel sejajar dengan jalur ducting dalam jarak {duct_distance_m} m sepanjang minimal "
    "{duct_min_parallel_m} m, dan ducting tersebut hari ini memiliki subduct kosong yang cukup lebar untuk kabel "
    "penyelenggara. Kabel dapat dipindahkan ke ducting.",
    explain_en="The span runs within {duct_distance_m} m of, and parallel to, a duct route over at least "
    "{duct_min_parallel_m} m, and that duct has a free subduct today wide enough for the operator's cable. The "
    "cable can move underground.",
    note="Parallel test on chords in UTM metres: the segment's chord is projected on the span; both ends of the "
    "overlap must lie within the distance and the angle within duct_max_angle_deg. ST_DWithin on the true "
    "geometry (GiST) finds the pairs. Overlaps with several segments of one route add up. Per operator, only the "
    "segments where a capacity request for its largest cable on the span would succeed today count: a free "
    "subduct of the size class that cable needs (cable_size_class of its diameter, or of its type's typical "
    "diameter when none was recorded; migration 0034). The flag names the operators for whom that holds.",
    # `seg` is materialised in a full run so each free segment's chord ends are computed once, not in every pair's
    # filter (the planner would push the arithmetic, and its ST_X(ST_StartPoint(...)) calls, into the index scan);
    # in a scoped run it is inlined, so the few spans in scope drive the search through the GiST index.
    sql=f"""INSERT INTO _cand ({CAND_COLUMNS})
    WITH seg AS {{materialized}} (
        SELECT r.id, r.code, r.geom_m, ST_X(ST_StartPoint(r.geom_m)) AS cx, ST_Y(ST_StartPoint(r.geom_m)) AS cy,
               ST_X(ST_EndPoint(r.geom_m)) AS dx, ST_Y(ST_EndPoint(r.geom_m)) AS dy
        FROM route_segment r WHERE {FREE_SEGMENT}),
    pairs AS (
        SELECT s.id AS span_id, g.id AS seg_id, g.code AS seg_code, s.ax, s.ay, s.bx - s.ax AS ux, s.by_ - s.ay AS uy,
               g.cx, g.cy, g.dx, g.dy
        FROM _live l JOIN aerial_span s ON s.id = l.span_id JOIN seg g ON ST_DWithin(s.geom_m, g.geom_m, :duct_distance_m)),
    geo AS (
        SELECT *, ux * ux + uy * uy AS uu, sqrt((dx - cx) ^ 2 + (dy - cy) ^ 2) AS clen FROM pairs),
    proj AS (  -- where the segment's chord ends fall on the span (0..1), and the angle between them
        SELECT *, greatest(0, least(1, least(ta, tb))) AS t0, greatest(0, least(1, greatest(ta, tb))) AS t1,
               abs(ux * (dy - cy) - uy * (dx - cx)) / nullif(sqrt(uu) * clen, 0) AS sin_angle
        FROM (SELECT *, ((cx - ax) * ux + (cy - ay) * uy) / nullif(uu, 0) AS ta,
                        ((dx - ax) * ux + (dy - ay) * uy) / nullif(uu, 0) AS tb FROM geo) q),
    ends AS (  -- how far each end of the overlap lies from the chord's line: what the distance test measures
        SELECT *, (t1 - t0) * sqrt(uu) AS along_m,
               abs((dx - cx) * (ay + t0 * uy - cy) - (dy - cy) * (ax + t0 * ux - cx)) / clen AS d0,
               abs((dx - cx) * (ay + t1 * uy - cy) - (dy - cy) * (ax + t1 * ux - cx)) / clen AS d1
        FROM proj WHERE sin_angle <= :sin_max_angle),
    near AS (SELECT * FROM ends WHERE d0 <= :duct_distance_m AND d1 <= :duct_distance_m AND along_m > 0),
    need AS (  -- per span and operator (unknown operators together, key 0): its widest cable there
        SELECT a.span_id, a.operator_id, coalesce(a.operator_id, 0) AS op_key,
               max(cable_outer_diameter_mm(a.cable_type, a.diameter_mm)) AS cable_mm
        FROM cable_attachment a WHERE a.removed_at IS NULL AND a.span_id IN (SELECT span_id FROM near)
        GROUP BY a.span_id, a.operator_id),
    sizes AS MATERIALIZED (  -- a handful of diameters: ask the catalogue once for each
        SELECT cable_mm, cable_size_class(cable_mm) AS size_class FROM (SELECT DISTINCT cable_mm FROM need) d),
    best AS MATERIALIZED (  -- per segment alongside, the largest size class with a free subduct today: a request
        -- of a class succeeds there exactly when this is that class or larger (each segment's subducts read once)
        SELECT f.segment_id AS seg_id, max(f.size_class) AS size_class FROM {free_subducts_today()} f
        WHERE f.segment_id IN (SELECT seg_id FROM near) GROUP BY f.segment_id),
    fit AS (  -- the pairs where a request for that cable's size class would be given a subduct today
        SELECT n.span_id, n.seg_id, n.seg_code, n.along_m, n.uu, greatest(n.d0, n.d1) AS dist_m, n.sin_angle,
               nd.operator_id, nd.op_key, nd.cable_mm, z.size_class
        FROM near n JOIN need nd ON nd.span_id = n.span_id JOIN sizes z ON z.cable_mm = nd.cable_mm
        JOIN best b ON b.seg_id = n.seg_id
        WHERE b.size_class >= z.size_class),
    per_op AS (
        SELECT span_id, op_key, operator_id, cable_mm, size_class, least(sum(along_m), max(sqrt(uu))) AS parallel_m,
               array_agg(seg_id ORDER BY seg_id) AS segs
        FROM fit GROUP BY span_id, op_key, operator_id, cable_mm, size_class),
    passing AS (SELECT * FROM per_op WHERE parallel_m >= :duct_min_parallel_m),
    per_span AS (
        SELECT span_id, max(parallel_m) AS parallel_m,
               coalesce(array_agg(operator_id ORDER BY operator_id) FILTER (WHERE operator_id IS NOT NULL), '{{}}')
                 AS ops,
               jsonb_agg(jsonb_build_object('operator_id', operator_id, 'cable_mm', cable_mm,
                                            'size_class', size_class, 'segment_ids', to_jsonb(segs),
                                            'parallel_m', round(parallel_m::numeric, 2))
                         ORDER BY op_key) AS operators
        FROM passing GROUP BY span_id),
    span_segs AS (  -- the segments and measurements behind the operators that pass
        SELECT f.span_id, array_agg(DISTINCT f.seg_id) AS segs, max(f.dist_m) AS dist_m, max(f.sin_angle) AS sin_angle
        FROM fit f JOIN passing p ON p.span_id = f.span_id AND p.op_key = f.op_key GROUP BY f.span_id)
    SELECT 'duct_available', 'low', 'span', s.id, s.id, NULL, ps.ops, round(ps.parallel_m::numeric, 2),
           :duct_min_parallel_m, 'm', o.id, o.survey_id, s.road_class, s.kecamatan_kode,
           jsonb_build_object('segment_ids', to_jsonb(ss.segs),
                              'segment_codes', (SELECT to_jsonb(array_agg(r.code ORDER BY r.id)) FROM route_segment r
                                                WHERE r.id = ANY(ss.segs)),
                              'operators', ps.operators,
                              'distance_m', round(ss.dist_m::numeric, 2), 'max_distance_m', :duct_distance_m,
                              'angle_deg', round(degrees(asin(least(1, ss.sin_angle)))::numeric, 1),
                              'max_angle_deg', :duct_max_angle_deg),
           s.geom
    FROM per_span ps JOIN span_segs ss ON ss.span_id = ps.span_id JOIN aerial_span s ON s.id = ps.span_id
    LEFT JOIN _obs o ON o.span_id = s.id""",
)

RULES: tuple[Rule, ...] = (
    LOW_CLEARANCE_ROAD,
    UNTAGGED_CABLE,
    UNLICENSED_CABLE,
    OVERLOADED_POLE,
    ABANDONED_CABLE,
    SLACK_OR_SAG,
    NO_OVERHEAD_ZONE,
    DUCT_AVAILABLE,
)
BY_CODE: dict[str, Rule] = {r.code.value: r for r in RULES}


def parameters(settings: ComplianceSettings) -> dict[str, float]:
    """The bound parameters every rule's SQL may use."""
    import math

    return {
        "road_clearance_m": settings.road_clearance_m,
        "sidewalk_clearance_m": settings.sidewalk_clearance_m,
        "max_attachments_per_pole": settings.max_attachments_per_pole,
        "duct_distance_m": settings.duct_distance_m,
        "duct_min_parallel_m": settings.duct_min_parallel_m,
        "duct_max_angle_deg": settings.duct_max_angle_deg,
        "sin_max_angle": math.sin(math.radians(settings.duct_max_angle_deg)),
    }


def explanation(rule: Rule, settings: ComplianceSettings, *, lang: str = "id") -> str:
    """The rule's explanation with the thresholds in force filled in (Indonesian decimals use a comma)."""
    values = settings.model_dump()
    text = rule.explain_id if lang == "id" else rule.explain_en
    fmt: Callable[[object], str] = (lambda v: f"{v:g}".replace(".", ",")) if lang == "id" else (lambda v: f"{v:g}")
    return text.format(**{k: fmt(v) for k, v in values.items() if isinstance(v, (int, float))})


def describe(settings: ComplianceSettings) -> list[dict[str, object]]:
    """The rules as the API and the letters show them."""
    return [
        {
            "code": r.code.value,
            "severity": r.severity.value,
            "subject": r.subject.value,
            "threshold": r.threshold(settings),
            "unit": r.unit,
            "setting": r.setting,
            "title_id": r.title_id,
            "title_en": r.title_en,
            "explanation_id": explanation(r, settings, lang="id"),
            "explanation_en": explanation(r, settings, lang="en"),
            "note": r.note,
        }
        for r in RULES
    ]
