"""A deployment's config (classification, coverage, protocols), loaded and validated once at start."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from geofences.coverage import CoverageMap, compile_coverage
from geofences.roster import Roster, compile_rosters
from rules.protocols import ProtocolSet, load_protocols
from stream.feeds.classify import Classification, load_classification

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class DeploymentPaths:
    """Where a deployment's planner files live."""

    classification: Path
    teams: Path
    protocols: Path
    rosters: Path | None = None  # the folder of one roster file per team (people and rotations)

    @classmethod
    def bundled(cls, name: str = "minneapolis") -> DeploymentPaths:
        """The deployment shipped inside the package (the Minneapolis demo)."""
        return cls.at_root(PACKAGE_ROOT, name)

    @classmethod
    def at_root(cls, root: Path, name: str = "minneapolis") -> DeploymentPaths:
        """A deployment laid out as in this repository (a checkout, or a copy of one at a git revision)."""
        return cls(
            classification=root / "stream" / name / "classification.yaml",
            teams=root / "geofences" / name / "teams.yaml",
            protocols=root / "rules" / name / "protocols.yaml",
            rosters=root / "geofences" / name / "rosters",
        )


@dataclass(frozen=True)
class Deployment:
    """Everything the core needs to decide, loaded from planner files."""

    classification: Classification
    coverage: CoverageMap
    protocols: ProtocolSet
    rosters: dict[str, Roster] = field(default_factory=dict)  # team → roster (teams without one page their shared recipients)

    @property
    def jurisdiction(self) -> str:
        """The jurisdiction this deployment serves."""
        return self.classification.jurisdiction


def load_deployment(paths: DeploymentPaths | None = None) -> Deployment:
    """Load and cross-check a deployment; raises with the file named when something is wrong."""
    paths = paths or DeploymentPaths.bundled()
    coverage = compile_coverage(paths.teams)
    deployment = Deployment(
        classification=load_classification(paths.classification),
        coverage=coverage,
        protocols=load_protocols(paths.protocols, teams=set(coverage.teams)),
        rosters=compile_rosters(paths.rosters, set(coverage.teams)).rosters if paths.rosters is not None else {},
    )
    names = {
        paths.classification: deployment.classification.jurisdiction,
        paths.teams: deployment.coverage.jurisdiction,
        paths.protocols: deployment.protocols.spec.jurisdiction,
    }
    if len(set(names.values())) != 1:
        listing = ", ".join(f"{p.name} says {j!r}" for p, j in names.items())
        raise ValueError(f"deployment files disagree on the jurisdiction: {listing}")
    zones = {
        paths.classification: deployment.classification.timezone,
        paths.teams: deployment.coverage.zone.key,
        paths.protocols: deployment.protocols.spec.timezone,
    }
    if len(set(zones.values())) != 1:
        listing = ", ".join(f"{p.name} says {z!r}" for p, z in zones.items())
        raise ValueError(f"deployment files disagree on the time zone: {listing}")
    return deployment
