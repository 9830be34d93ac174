// A gmsh .geo script that follows femeit's physical-group contract.
//   femeit mesh examples/contract_disk.geo        (meshed by gmsh when read)
// Groups: "domain" (the background surface), "inclusion_<name>" (other
// regions), "e01".."eNN" (one per electrode, boundary curves in 2D, numbered
// from 1 without gaps; a single point makes a point electrode).
// A disk of radius 0.1 m with 4 electrodes of 30 degrees of arc (0.05236 m
// each) centred at 0, 90, 180 and 270 degrees, and a disk inclusion of
// radius 0.025 m centred at (0.03, 0.02).  Built-in kernel: tags are kept.
R = 0.1; half = Pi / 12;            // electrode half-angle: 15 degrees
Point(1) = {0, 0, 0};
For k In {0:3}
  c = k * Pi / 2;
  Point(10 + 2 * k) = {R * Cos(c - half), R * Sin(c - half), 0};
  Point(11 + 2 * k) = {R * Cos(c + half), R * Sin(c + half), 0};
EndFor
For k In {0:3}
  Circle(20 + 2 * k) = {10 + 2 * k, 1, 11 + 2 * k};              // electrode k
  Circle(21 + 2 * k) = {11 + 2 * k, 1, 10 + (2 * k + 2) % 8};    // gap after it
EndFor
Curve Loop(1) = {20:27};
// The inclusion: four quarter circles round (0.03, 0.02).
r = 0.025;
Point(2) = {0.03, 0.02, 0};
Point(30) = {0.03 + r, 0.02, 0}; Point(31) = {0.03, 0.02 + r, 0};
Point(32) = {0.03 - r, 0.02, 0}; Point(33) = {0.03, 0.02 - r, 0};
Circle(40) = {30, 2, 31}; Circle(41) = {31, 2, 32};
Circle(42) = {32, 2, 33}; Circle(43) = {33, 2, 30};
Curve Loop(2) = {40:43};
Plane Surface(1) = {1, 2};          // the background, with the inclusion as a hole
Plane Surface(2) = {2};             // the inclusion
Physical Surface("domain") = {1};
Physical Surface("inclusion_small") = {2};
Physical Curve("e01") = {20};
Physical Curve("e02") = {22};
Physical Curve("e03") = {24};
Physical Curve("e04") = {26};
Mesh.MeshSizeMax = 0.004;
